"""The application that runs the book's code: the training configuration and its presets (`config`),
the data stream (`stream`), the model factory (`models`), the logs (`logs`), evaluation
(`evaluation`), the run folder's pictures (`figures`) and its one writer (`folder`), a run's state
and iteration (`state`), the loop (`loop`: `train`, `resume`), several processes under torchrun
(`distributed`) and the command line (`cli`). Nothing the chapters export imports from here.
"""
