"""The workbench's pages, so pages can link to each other without spelling paths twice."""

OVERVIEW = "pages/overview.py"
LABELING_FUNCTIONS = "pages/labeling_functions.py"
EXAMPLES = "pages/examples.py"
TRAIN = "pages/train.py"
RUNS = "pages/runs.py"
RECOMMEND = "pages/recommend.py"

# (path, title, icon, url path) in menu order; the first is the default page, served at /. A URL path equals its
# file's name: on a fresh server Streamlit first takes pages/ for an old-style pages folder (see
# widgets.require_frame), and only URLs that name a file there reach the page.
PAGES = (
    (OVERVIEW, "Overview", ":material/dataset:", "overview"),
    (LABELING_FUNCTIONS, "Labeling functions", ":material/tune:", "labeling_functions"),
    (EXAMPLES, "Examples", ":material/article:", "examples"),
    (TRAIN, "Train", ":material/model_training:", "train"),
    (RUNS, "Runs", ":material/history:", "runs"),
    (RECOMMEND, "Recommend", ":material/recommend:", "recommend"),
)
