"""The workbench's pages, so pages can link to each other without spelling paths twice.

The paths are absolute (from this file's location), so they hold whatever the current working directory is; st.Page,
st.switch_page, st.page_link and AppTest.switch_page all take an absolute path to a page script.
"""

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent / "pages"

OVERVIEW = PAGES_DIR / "overview.py"
LABELING_FUNCTIONS = PAGES_DIR / "labeling_functions.py"
EXAMPLES = PAGES_DIR / "examples.py"
TRAIN = PAGES_DIR / "train.py"
RUNS = PAGES_DIR / "runs.py"
RECOMMEND = PAGES_DIR / "recommend.py"

# (path, title, icon, url path) in menu order; the first is the default page, served at /. The page scripts live in
# workbench/pages/ and the entry script in workbench/entry/, not beside them: Streamlit takes a pages/ folder beside
# the entry script for an old-style (v1) multipage app, which on a fresh server runs a page's script without the
# entry script around it.
PAGES = (
    (OVERVIEW, "Overview", ":material/dataset:", "overview"),
    (LABELING_FUNCTIONS, "Labeling functions", ":material/tune:", "labeling_functions"),
    (EXAMPLES, "Examples", ":material/article:", "examples"),
    (TRAIN, "Train", ":material/model_training:", "train"),
    (RUNS, "Runs", ":material/history:", "runs"),
    (RECOMMEND, "Recommend", ":material/recommend:", "recommend"),
)
