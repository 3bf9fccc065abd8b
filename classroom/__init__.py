"""A class in step (issue 22): the class store (in memory or Redis) and the protocol teacher and
students speak through it. No Streamlit here: `classroom.app` is the Streamlit side."""
