"""Entry point: `python -m streamlit run workbench/app.py [-- --data DIR]` from the repository root."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # Streamlit puts only this script's folder on sys.path; the packages live above it
    sys.path.insert(0, str(ROOT))

from workbench import context, nav, state, widgets  # noqa: E402


def main() -> None:
    # An emoji icon: a material icon as favicon would be fetched from the web on every load.
    st.set_page_config(page_title="LF Workbench", page_icon="🏷️", layout="wide")
    pages = [st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
             for i, (path, title, icon, url) in enumerate(nav.PAGES)]
    page = st.navigation(pages)
    context.fingerprint()  # no prepared data: every page shows how to make it, and stops
    widgets.sidebar()
    widgets.show_flash()
    st.session_state[state.FRAME] = True
    try:
        page.run()
    finally:
        st.session_state.pop(state.FRAME, None)


# Streamlit runs this script as __main__. A worker process started with "spawn" (the TextBlob pool, when the app
# computes features) imports the main script again, as __mp_main__: it must not draw a page.
if __name__ == "__main__":
    main()
