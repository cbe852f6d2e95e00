"""Environment check: `python -m course_utils.doctor` prints OK/WARN/FAIL per requirement with the fix."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata

from .models import has_gpu, hub_reachable, resolve_backend

REQUIRED = {  # import name -> (distribution, what needs it)
    "distilabel": ("distilabel", "every generation notebook"),
    "transformers": ("transformers", "the real-model backend"),
    "torch": ("torch", "the real-model backend"),
    "datasets": ("datasets", "export and evaluation"),
    "rouge_score": ("rouge-score", "deduplication"),
    "rapidfuzz": ("rapidfuzz", "fast deduplication"),
    "matplotlib": ("matplotlib", "every chart"),
    "ipywidgets": ("ipywidgets", "the interactive explorers"),
    "requests": ("requests", "distilabel (undeclared dependency)"),
    "PIL": ("pillow", "distilabel's Distiset export (undeclared dependency)"),
    "yaml": ("pyyaml", "the offline teacher and pipeline configs"),
    "sentence_transformers": ("sentence-transformers", "embedding deduplication"),
}


@dataclass
class Check:
    """One line of the report."""
    name: str
    status: str  # "OK", "WARN" or "FAIL"
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"  -> {self.fix}" if self.fix and self.status != "OK" else ""
        return f"[{self.status:<4}] {self.name}: {self.detail}{fix}"


def check_python() -> Check:
    v = sys.version_info
    ok = (3, 10) <= (v.major, v.minor) <= (3, 13)
    return Check("Python", "OK" if ok else "FAIL", f"{v.major}.{v.minor}.{v.micro}",
                 "Install Python 3.10-3.13 (conda env create -f environment.yml gives 3.11).")


def check_package(module: str, dist: str, why: str) -> Check:
    if importlib.util.find_spec(module) is None:
        return Check(dist, "FAIL", f"not installed (needed for {why})", f"pip install -e . (or: pip install {dist})")
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = "installed"
    return Check(dist, "OK", version)


def check_gpu() -> Check:

    if has_gpu():
        import torch

        name = torch.cuda.get_device_name(0)
        gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        return Check("GPU", "OK", f"{name}, {gib:.0f} GiB: SmolLM2-1.7B-Instruct fits")
    return Check("GPU", "WARN", "none: a real model runs on the CPU (SmolLM2-360M, slow) or use the offline teacher",
                 "On Colab: Runtime > Change runtime type > T4 GPU. Everything also runs without one.")


def check_disk(path: str = ".") -> Check:
    free = shutil.disk_usage(path).free / 2**30
    status = "OK" if free >= 8 else ("WARN" if free >= 2 else "FAIL")
    return Check("Disk", status, f"{free:.1f} GiB free", "SmolLM2-1.7B needs about 4 GiB of disk; free some space.")


def check_hub() -> Check:

    if hub_reachable():
        return Check("Model hub", "OK", "reachable")
    return Check("Model hub", "WARN", "not reachable (or HF_HUB_OFFLINE is set)",
                 "Fine for the course: the offline teacher takes over. For a real model, connect or pre-download it.")


def check_backend() -> Check:

    try:
        choice = resolve_backend("auto")
    except Exception as exc:  # a bad COURSE_BACKEND or COURSE_MODEL
        return Check("Backend", "FAIL", str(exc), "Fix COURSE_BACKEND / COURSE_MODEL or unset them.")
    what = "offline teacher (rule-based, not a neural network)" if choice.backend == "offline" else choice.model
    return Check("Backend", "OK", f"{choice.backend}: {what} ({choice.reason})")


RUNTIMES = [  # (runtime, GPU memory in GiB or None for CPU, model, what to expect)
    ("Colab T4 (16 GB)", 15.0, "HuggingFaceTB/SmolLM2-1.7B-Instruct", "0.1-18 min of generation per notebook (counted: notebook 00)"),
    ("Colab L4 / A100 (24-80 GB)", 22.0, "HuggingFaceTB/SmolLM2-1.7B-Instruct", "about 1-2 min per notebook; larger models fit"),
    ("GPU with 6-8 GB", 6.0, "HuggingFaceTB/SmolLM2-360M-Instruct", "about 1-3 min per notebook"),
    ("CPU only", None, "HuggingFaceTB/SmolLM2-360M-Instruct", "10+ min per notebook: prefer the offline teacher"),
    ("offline (no model)", None, "offline teacher", "under 2 min per notebook, any machine"),
]


def model_advice(gpu_gib: float | None) -> str:
    """Which model fits a runtime with `gpu_gib` GiB of GPU memory (None: CPU only)."""
    if gpu_gib is None:
        return "CPU only: SmolLM2-360M-Instruct works but is slow; the offline teacher runs every notebook in under 2 min."
    if gpu_gib >= 12:
        return f"{gpu_gib:.0f} GiB GPU: SmolLM2-1.7B-Instruct fits (about 3.4 GiB in bf16, with room for batching)."
    if gpu_gib >= 3:
        return f"{gpu_gib:.0f} GiB GPU: use SmolLM2-360M-Instruct (COURSE_MODEL=HuggingFaceTB/SmolLM2-360M-Instruct)."
    return f"{gpu_gib:.1f} GiB GPU: too small for the course's models; use the CPU or the offline teacher."


def this_machine_advice() -> str:
    """`model_advice` for the GPU this machine has (if any)."""
    if not has_gpu():
        return model_advice(None)
    import torch

    return model_advice(torch.cuda.get_device_properties(0).total_memory / 2**30)


def run_checks() -> list[Check]:
    """Run every check and return the results."""
    checks = [check_python()]
    checks += [check_package(m, d, w) for m, (d, w) in REQUIRED.items()]
    checks += [check_gpu(), check_disk(), check_hub(), check_backend()]
    return checks


def main() -> int:
    """Print the report; exit status 1 when anything FAILs."""
    checks = run_checks()
    for c in checks:
        print(c.line())
    failed = [c for c in checks if c.status == "FAIL"]
    print(f"\n{len(checks) - len(failed)}/{len(checks)} checks passed without FAIL." if not failed
          else f"\n{len(failed)} check(s) FAILED: follow the fix after each -> above.")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
