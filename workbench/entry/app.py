"""Entry point: `python -m workbench [-- --data DIR]` runs `streamlit run` on this script with the project's server
settings (workbench/__main__.py; the project installed in the environment, see README.md). Its pages are the
scripts in workbench/pages/ (see nav.py); this script sits in a folder of its own, so that no pages/ folder is
beside it (Streamlit would take one for an old-style multipage app)."""

import streamlit as st

from workbench import context, guard, nav, widgets


def main() -> None:
    guard.enforce()  # first: a session of a foreign page or name sees a refusal and nothing else
    # An emoji icon: a material icon as favicon would be fetched from the web on every load.
    st.set_page_config(page_title="LF Workbench", page_icon="🏷️", layout="wide")
    pages = [st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
             for i, (path, title, icon, url) in enumerate(nav.PAGES)]
    page = st.navigation(pages)
    context.fingerprint()  # no prepared data: every page shows how to make it, and stops
    widgets.sidebar()
    widgets.show_flash()
    page.run()


# Streamlit runs this script as __main__. A worker process started with "spawn" (the TextBlob pool, when the app
# computes features) imports the main script again, as __mp_main__: it must not draw a page.
if __name__ == "__main__":
    main()
