# Reference values for the power of a textbook two-arm design (tests/test_power_reference.py::
# test_simulated_power_of_the_textbook_design): base R's stats::power.t.test, an implementation independent of
# painstudy, for the two-sided two-sample t test with equal arms, and the per-arm sample sizes it gives for 80%
# power. The published figures they are set beside: Cohen J. Statistical Power Analysis for the Behavioral
# Sciences, 2nd ed., 1988, Table 2.4.1 (two-sided alpha 0.05, power 0.80): 64 per group for d = 0.5 and 26 for
# d = 0.8.
# Run from the repository root:
#   Rscript tests/reference/power_ttest_reference.R   # writes tests/reference/power_ttest_reference.json
suppressPackageStartupMessages(library(jsonlite))
rows <- lapply(list(c(d = 0.5, n = 64), c(d = 0.8, n = 26)), function(x) {
  list(
    d = unname(x["d"]), n = unname(x["n"]),
    power = power.t.test(n = x["n"], delta = x["d"], sd = 1, sig.level = 0.05)$power,
    n_for_80 = power.t.test(power = 0.8, delta = x["d"], sd = 1, sig.level = 0.05)$n
  )
})
out <- list(r_version = R.version.string, call = "stats::power.t.test(n, delta = d, sd = 1, sig.level = 0.05)",
            designs = rows)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/power_ttest_reference.json")
