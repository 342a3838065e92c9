"""A pandas UDF that never returns (it waits with the GIL released, as a stuck native call
would): for the runner's Ctrl-C test. Importable by the Python workers through PYTHONPATH."""

import os
import threading
from pathlib import Path

import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import udf


@udf(result_type=DataTypes.STRING(), func_type="pandas")
def stuck(images: pd.Series) -> pd.Series:
    Path(os.environ["STUCK_UDF_MARKER"]).touch()  # the test waits for this, then presses Ctrl-C
    threading.Event().wait()
    return images.map(lambda _: "never")
