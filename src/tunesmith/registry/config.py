"""Where experiment tracking and the model registry live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.core.schema import StrictModel


class TrackingConfig(StrictModel):
    """MLflow tracking and model registry.

    By default an embedded store in the project folder (``mlflow/``: an SQLite
    database and an artifact folder), so it works on a laptop with nothing
    running; a team points ``uri`` (or ``MLFLOW_TRACKING_URI``) at its tracking
    server and the same runs, versions and aliases land there. ``tunesmith
    registry ui`` opens the MLflow UI on the project's store.
    """

    enabled: bool = True
    """Log every stage run and register gated models."""
    uri: str | None = None
    """Tracking URI: a server (http://mlflow.internal:5000) or a store (postgresql://..., sqlite:///...).
    Unset: $MLFLOW_TRACKING_URI, else sqlite in the project's mlflow/ folder."""
    experiment: str | None = None
    """Experiment name (default: the project name)."""
    model_name: str | None = None
    """Registered model name (default: the project name)."""
    log_weights: Literal["adapters", "always", "never"] = "adapters"
    """Copy trained weights into the tracking store: `adapters` (LoRA-family, megabytes) by default; `always`
    copies full fine-tunes too (the whole model, gigabytes for real ones); otherwise a version points at the
    run folder's weights."""
    max_artifact_mb: float = Field(20, gt=0)
    """Run-folder files larger than this are not copied as artifacts (they stay in the run folder)."""
