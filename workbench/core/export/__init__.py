"""Taking a run home: adapter sharing (zip, merge, push), the plain script, the notebook and the model card."""
