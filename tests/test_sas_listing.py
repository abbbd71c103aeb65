"""The SAS listing reader (painstudy.reproduce.sas_listing): layout rules on small made-up listings, then
the three PROC MIXED listings of ../shared/references/mmrm_sas/ (skipped when that folder is absent)."""

from __future__ import annotations

import math

import pytest
from conftest import shared_or_skip

from painstudy.reproduce.sas_listing import (
    ListingError,
    parse_listing,
    printed,
    read_listing,
    un_parameter_visits,
)

HEADER = "{:>60}{:>40}   {}".format("The SAS System", "Thursday, June 23, 2022 10:11:00 PM", "{page}")


def page(n: int, body: str) -> str:
    return "\f" + HEADER.format(page=n) + "\n\n" + " " * 52 + "The Mixed Procedure\n\n" + body


MADE_UP = (
    page(
        1,
        """\
                                        Class Level Information

                          Class      Levels    Values

                          RACE            3    Black or African American
                                               White Asian
                          AVISIT          3    V2 V3 V1


                                         Iteration History

                      Iteration    Evaluations    -2 Res Log Like       Criterion

                              0              1      3535.97413376
                              1              2      3386.44987722      0.00000001


                                     Convergence criteria met.


                                       Estimated R Matrix
                                         for USUBJID PT1

                                   Row        Col1        Col2

                                     1     26.5692      7.4790
                                     2      7.4790      158.17


                                  Covariance Parameter Estimates

                 Cov Parm    Subject    Estimate     Alpha       Lower       Upper

                 UN(1,1)     USUBJID     26.5692      0.05     21.2242     34.2340
                 UN(2,1)     USUBJID     -2.7851      0.05    -0.06856      6.7838
""",
    )
    + page(
        2,
        """\
                                  Covariance Parameter Estimates

                 Cov Parm    Subject    Estimate     Alpha       Lower       Upper

                 UN(2,2)     USUBJID      158.17      0.05      124.01      208.76
                 UN(3,1)     USUBJID     14.3982      0.05      8.0430     20.7533


                                          Fit Statistics

                               -2 Res Log Likelihood          3386.4
                               AIC (Smaller is Better)        3406.4
""",
    )
    + page(
        3,
        """\
                                          Fit Statistics

                               BIC (Smaller is Better)        3439.4


                                    Solution for Fixed Effects

                                                                     Standard
   Effect          RACE                         AVISIT    Estimate       Error      DF    t Value    Pr > |t|

   Intercept                                               30.7774      0.8865     219      34.72      <.0001
   RACE            Black or African American               1.5305      0.6244     169       2.45      0.0153
   RACE            Asian                                        0           .       .        .         .
""",
    )
)


@pytest.fixture(scope="module")
def made_up():
    return parse_listing(MADE_UP, source="made_up.lst")


def test_tables_pages_and_messages(made_up):
    assert made_up.procedure == "The Mixed Procedure"
    assert made_up.run_at == "Thursday, June 23, 2022 10:11:00 PM"
    assert made_up.titles == (
        "Class Level Information",
        "Iteration History",
        "Estimated R Matrix for USUBJID PT1",
        "Covariance Parameter Estimates",
        "Fit Statistics",
        "Solution for Fixed Effects",
    )
    assert made_up.messages == ("Convergence criteria met.",) and made_up.converged
    # a table cut by a page break is one table (the header of the key-value table is not repeated)
    cov = made_up.table("Covariance Parameter Estimates")
    assert cov.column("Cov Parm") == ["UN(1,1)", "UN(2,1)", "UN(2,2)", "UN(3,1)"]
    assert list(made_up.key_values("Fit Statistics")) == [
        "-2 Res Log Likelihood",
        "AIC (Smaller is Better)",
        "BIC (Smaller is Better)",
    ]
    assert cov.line == 34  # the line of its title in the file (a form feed does not start a line)


def test_columns_headers_and_cells(made_up):
    sol = made_up.table("Solution for Fixed Effects")
    # a two-line header is joined; a cell may contain single blanks; an empty cell is ""
    assert sol.columns == ("Effect", "RACE", "AVISIT", "Estimate", "Standard Error", "DF", "t Value", "Pr > |t|")
    assert sol.rows[1][:2] == ("RACE", "Black or African American") and sol.rows[0][1] == ""
    est = sol.numbers("Estimate")
    assert [p.value for p in est] == [30.7774, 1.5305, 0.0] and est[2].half_unit == 0.5
    p = sol.numbers("Pr > |t|")
    assert p[0].relation == "<" and p[0].admits(3e-5) and not p[0].admits(1e-4)
    assert p[2].relation == "missing" and p[2].admits(math.nan) and not p[2].admits(0.0)
    assert sol.frame.shape == (3, 8)


def test_class_levels_wrapped_over_lines(made_up):
    race = made_up.class_levels["RACE"]
    assert (race.n_levels, race.values_text) == (3, "Black or African American White Asian")
    with pytest.raises(ListingError, match="values contain blanks"):
        _ = race.levels
    assert race.order_of(["White", "Asian", "Black or African American"]) == (
        "Black or African American",
        "White",
        "Asian",
    )
    with pytest.raises(ListingError, match="are not made of"):
        race.order_of(["White", "Asian", "Black"])
    assert made_up.class_levels["AVISIT"].levels == ("V2", "V3", "V1")


def test_un_parameters_follow_the_class_order(made_up):
    assert un_parameter_visits(made_up, "AVISIT") == {
        "UN(1,1)": ("V2", "V2"),
        "UN(2,1)": ("V3", "V2"),
        "UN(2,2)": ("V3", "V3"),
        "UN(3,1)": ("V1", "V2"),
    }
    assert made_up.subject_of("Estimated R Matrix") == ("USUBJID", "PT1")
    r = made_up.table("Estimated R Matrix")
    assert r.columns == ("Row", "Col1", "Col2") and r.rows[1] == ("2", "7.4790", "158.17")


@pytest.mark.parametrize(
    "text, value, half",
    [
        ("26.5692", 26.5692, 5e-5),
        ("-0.06856", -0.06856, 5e-6),
        ("158.17", 158.17, 5e-3),
        ("219", 219.0, 0.5),
        ("0.00000001", 1e-8, 5e-9),
        ("3386.44987722", 3386.44987722, 5e-9),
        ("1.2E-5", 1.2e-5, 5e-7),
        ("-.5", -0.5, 0.05),
    ],
)
def test_printed_precision(text, value, half):
    p = printed(text)
    assert p.value == value and p.half_unit == pytest.approx(half, rel=1e-12) and p.relation == "="
    assert p.admits(value + 0.99 * half) and not p.admits(value + 1.01 * half)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "--1", "<", "Infty"])
def test_not_a_printed_number(text):
    with pytest.raises(ListingError, match="is not a number as SAS prints one"):
        printed(text)


def test_errors_name_file_line_and_rule(made_up, tmp_path):
    with pytest.raises(
        ListingError,
        match=r"made_up.lst: no table titled 'Type 3 Tests of Fixed Effects'; tables: "
        r"Class Level Information; Iteration History",
    ):
        made_up.table("Type 3 Tests of Fixed Effects")
    with pytest.raises(ListingError, match=r"table 'Solution for Fixed Effects' \(line \d+\) has no column 'DDF'"):
        made_up.table("Solution for Fixed Effects").column("DDF")
    with pytest.raises(ListingError, match=r"'Iteration History' \(line \d+\), row 1, column 'Criterion': '' is not"):
        made_up.table("Iteration History").numbers("Criterion")
    with pytest.raises(ListingError, match="x.txt: no page header .* not a SAS listing"):
        parse_listing("just some text\n", source="x.txt")
    with pytest.raises(ListingError, match=r"x.lst, line 5: a table without a title: 'a  b'"):
        parse_listing(page(1, "a  b\n"), source="x.lst")
    with pytest.raises(ListingError, match=r"missing.lst: cannot read the SAS listing"):
        read_listing(tmp_path / "missing.lst")
    assert made_up.key_values("Fit Statistics")["BIC (Smaller is Better)"] == "3439.4"
    with pytest.raises(ListingError, match="is not a key-value table"):
        made_up.key_values("Iteration History")


# ------------------------------------------------------------------------------- the real listings
@pytest.mark.parametrize(
    "name, n_tables, has_lsmeans",
    [("sas_log_reml.txt", 15, True), ("sas_log.txt", 12, False), ("sas_log_simple_reml.txt", 11, False)],
)
def test_the_mmrm_listings(name, n_tables, has_lsmeans):
    listing = read_listing(shared_or_skip("references", "mmrm_sas", name))
    assert len(listing.tables) == n_tables and listing.converged
    assert listing.has("Least Squares Means") == has_lsmeans
    assert listing.class_levels["USUBJID"].n_levels == len(listing.class_levels["USUBJID"].levels) == 200
    assert listing.class_levels["AVISIT"].levels == ("VIS2", "VIS3", "VIS4", "VIS1")
    # the covariance table is complete even where a page break cuts it (intercept-only listing)
    assert len(listing.table("Covariance Parameter Estimates").rows) == 10
    assert un_parameter_visits(listing, "AVISIT")["UN(4,3)"] == ("VIS1", "VIS4")
    if has_lsmeans:
        assert len(listing.table("Differences of Least Squares Means").rows) == 28
        assert listing.table("Tests of Effect Slices").columns == (
            "Effect",
            "AVISIT",
            "Num DF",
            "Den DF",
            "F Value",
            "Pr > F",
        )
