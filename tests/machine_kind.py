"""What chooses the float kernels a test's numbers come from, so that a saved float is compared bit for bit only
on the kind of machine that made it.

The torch build and `torch.backends.cpu.get_cpu_capability()` are not enough: oneDNN and MKL pick their kernels
and blockings by the CPU's vendor, family and model, its instruction-set flags (AVX-512 subsets, AVX-VNNI, AMX)
and its cache sizes. Two machines that both report torch 2.14.1+cu130 and ``AVX512`` (an AVX-512 EPYC and a Xeon
with AMX) gave losses differing in the 7th digit (issue 33). Environment variables that cap those libraries'
instruction sets are part of the kind too, so a run that caps them never passes for the machine it runs on.
"""
import glob
import os
import platform
import re
from typing import Any, Dict, Optional

import torch

# /proc/cpuinfo flags that kernel libraries dispatch on (x86: SSE..AMX; Arm: NEON/SVE/SME and the dot products).
DISPATCH_FLAG = re.compile(r"^(sse\d\w*|ssse3|avx\w*|fma\w*|f16c|amx\w*|asimd\w*|fphp|sve\w*|sme(\d\w*)?|i8mm|bf16|"
                           r"dotprod|fp16)$")
# Environment variables that cap or change the kernels of torch's CPU libraries.
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE",
              "ONEDNN_DEFAULT_FPMATH_MODE", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def _cpuinfo() -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none: macOS, Windows)."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _caches() -> Optional[str]:
    """Cache levels and sizes of the first CPU, e.g. 'L1d 32K, L1i 32K, L2 512K, L3 32768K' (None if unknown)."""
    sizes = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            level, kind, size = (open(os.path.join(index, name)).read().strip() for name in ("level", "type", "size"))
        except OSError:
            return None
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes.append(f"L{level}{suffix} {size}")
    return ", ".join(sizes) or None


def machine() -> Dict[str, Any]:
    """The kind of machine a float result depends on: torch build, CPU identity, dispatch flags and caches.
    Fields this platform does not expose are None, and a record with a None field matches no machine."""
    info = _cpuinfo()
    flags = info.get("flags", info.get("Features"))
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "cpu_vendor": info.get("vendor_id", info.get("CPU implementer")),
        "cpu_family": info.get("cpu family", info.get("CPU architecture")),
        "cpu_model": info.get("model", info.get("CPU part")),
        "cpu_model_name": info.get("model name"),
        "dispatch_flags": " ".join(sorted(f for f in flags.split() if DISPATCH_FLAG.match(f))) if flags else None,
        "caches": _caches(),
        "kernel_env": {name: os.environ[name] for name in KERNEL_ENV if name in os.environ},
    }


def same_kind(recorded: Dict[str, Any], here: Dict[str, Any]) -> bool:
    """True when every field is known and equal: only then are floats expected to agree bit for bit."""
    return recorded.keys() == here.keys() and all(
        value is not None and value == here[key] for key, value in recorded.items())


def likeness(recorded: Dict[str, Any], here: Dict[str, Any]) -> int:
    """How many fields two machine kinds share (known and equal): which saved record is nearest to compare with
    at float noise when none is of this kind."""
    return sum(value is not None and here.get(key) == value for key, value in recorded.items())
