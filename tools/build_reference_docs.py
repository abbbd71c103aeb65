"""Write the reference pages generated from the code: the study.yml reference and the validation rules.

Run from the project root: ``python tools/build_reference_docs.py``. A test checks that the pages
in docs/reference/ match what this script writes, so they never drift from the code.
"""

from pathlib import Path

from painstudy.study_schema import study_yml_reference
from painstudy.validation import validation_rules_page

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    out = ROOT / "docs" / "reference"
    out.mkdir(parents=True, exist_ok=True)
    (out / "study-yml.md").write_text(study_yml_reference() + "\n")
    (out / "validation-rules.md").write_text(validation_rules_page())
    print(f"wrote {out / 'study-yml.md'} and {out / 'validation-rules.md'}")


if __name__ == "__main__":
    main()
