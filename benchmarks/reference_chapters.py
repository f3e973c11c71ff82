"""The shipped results of Chapters 1, 2 and 5: each chapter run top to bottom in the cpu profile, and what
its experiment logged saved under data/reference/, so that the chapter shows a full-length run beside
the reader's own in every profile (in the smoke profile the live run is a few steps).

    python benchmarks/reference_chapters.py [--chapters 01 02 05] [--profile cpu]

Runs the chapter's notebook in a fresh kernel (as `make book` does), then one more cell in the same
kernel that writes the experiment's variables: Chapter 1's `history` (losses and D's scores per step),
the last samples and the consistency score to ``data/reference/ch01_toy_gan/``; Chapter 2's `logs`
(per logged step: each G layer's effective sigma, G's gradient norm, the losses, for SN on D only and
on G and D) to ``data/reference/ch02_sn_study/``; Chapter 5's FID and KID of real against held-out
real images per set size to ``data/reference/ch05_metric_bias/``. Each folder gets ``about.json``: the command, the
machine, the date and how long the whole chapter took.
"""

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import torch

from minisagan import reference
from minisagan.bookbuild.notebooks import execute

ROOT = Path(__file__).resolve().parents[1]

SAVE = {
    "01": ("ch01_toy_gan", """
from minisagan import reference as _ref
from minisagan.figures import to_grid as _to_grid
_out = _ref.ROOT / "ch01_toy_gan"
_ref.write_rows(_out / "history.csv", [dict(zip(history, row)) for row in zip(*history.values())])
_last = max(snapshots)
plt.imsave(_out / "samples.png", (_to_grid(snapshots[_last], nrow=8).permute(1, 2, 0).clamp(0, 1).numpy()))
print(json.dumps({"steps": STEPS, "batch": BATCH, "width": WIDTH, "samples_step": _last,
                  "consistency_generated": round(consistency(fakes).score, 3)}))
"""),
    "02": ("ch02_sn_study", """
from minisagan import reference as _ref
_out = _ref.ROOT / "ch02_sn_study"
_rows = []
for _name, _log in logs.items():
    for _i, _step in enumerate(_log["step"]):
        _row = {"run": _name, "step": _step, "grad_norm_G": _log["grad_norm_G"][_i], "loss_d": _log["loss_d"][_i],
                "loss_g": _log["loss_g"][_i]}
        _row.update({f"sigma_{_k}": _s for _k, _s in enumerate(_log["sigmas"][_i])})
        _rows.append(_row)
_ref.write_rows(_out / "log.csv", _rows)
print(json.dumps({"steps": STEPS, "batch": BATCH, "width": WIDTH, "log_every": LOG_EVERY}))
"""),
    "05": ("ch05_metric_bias", """
from minisagan import reference as _ref
_ref.write_rows(_ref.ROOT / "ch05_metric_bias" / "bias.csv",
                [{"images_per_set": n, "fid": f, "kid": k} for n, f, k in zip(set_sizes, bias["FID"], bias["KID"])])
print(json.dumps({"set_sizes": list(set_sizes)}))
"""),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", default=list(SAVE), choices=list(SAVE))
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    for number in args.chapters:
        name, code = SAVE[number]
        chapter = next((ROOT / "book").glob(f"{number}_*.md"))
        (reference.ROOT / name).mkdir(parents=True, exist_ok=True)
        load, start = os.getloadavg()[0], time.time()
        notebook = execute(chapter, profile=args.profile, extra_cells=[nbformat.v4.new_code_cell("import json\n" + code)])
        seconds = time.time() - start
        printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("output_type") == "stream")
        info = {"what": f"Chapter {int(number)} run in the {args.profile} profile",
                "command": f"python benchmarks/reference_chapters.py --chapters {number} --profile {args.profile}",
                "date": f"{datetime.now(timezone.utc):%Y-%m-%d}",
                "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, PyTorch {torch.__version__}",
                "seconds": round(seconds), "load_average_at_start": round(load, 2),
                "threads": torch.get_num_threads(), **json.loads(printed.strip().splitlines()[-1])}
        (reference.ROOT / name / "about.json").write_text(json.dumps(info, indent=1) + "\n")
        print(f"{chapter.name}: {seconds / 60:.1f} min in all; wrote data/reference/{name}/")


if __name__ == "__main__":
    main()
