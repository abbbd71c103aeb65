"""Plan the next trial: power by simulation (on this machine or a Dask cluster) and analytically.

- :func:`power`: per sample size, trials drawn from a :class:`~painstudy.design.Design` and analysed as
  planned (MMRM or ANCOVA): power with its Monte Carlo SE, type I error, bias, CI coverage
  (:class:`PowerResult`), batches run by :mod:`.engine` with per-batch checkpoints (:mod:`.checkpoint`);
- :func:`mmrm_power`, :func:`mmrm_sample_size`, :func:`analytic_power`: Lu, Luo & Chen (2008) (:mod:`.analytic`).
"""

from painstudy.power.analytic import analytic_power, mmrm_power, mmrm_sample_size
from painstudy.power.result import PowerResult
from painstudy.power.run import power

__all__ = ["power", "PowerResult", "mmrm_power", "mmrm_sample_size", "analytic_power"]
