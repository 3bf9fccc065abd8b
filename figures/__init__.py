"""Pure functions from runs (and view options) to Plotly figures. Never imports streamlit."""
