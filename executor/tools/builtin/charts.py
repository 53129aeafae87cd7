"""``render_chart``: bar, line, scatter and pie charts as PNG files attached to
the answer. The model sends a small data spec; matplotlib draws it."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from executor.tools.base import Tool
from executor.tools.builtin.errors import reports_errors
from executor.tools.builtin.validation import parse_args, tool_schema
from executor.tools.builtin.workspace import Workspace, check_filename
from executor.tools.invocation import Invocation

CHART_TIMEOUT = 30.0

FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]

DESCRIPTION = (
    "Draw a chart as a PNG image attached to your answer. Types: bar (grouped when several series), "
    "line, scatter (each series needs x values) and pie (one series of non-negative values). "
    "`labels` name the categories on the x axis (bar, line) or the slices (pie); each series has one "
    "value per label. Example: {\"type\": \"bar\", \"title\": \"Sales\", \"labels\": [\"Q1\", \"Q2\"], "
    "\"series\": [{\"name\": \"2024\", \"values\": [10, 12]}]}"
)


class Series(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=100, description="Legend label.")
    values: list[FiniteNumber] = Field(min_length=1, max_length=1000, description="The y values (pie: slice sizes).")
    x: list[FiniteNumber] = Field(
        default_factory=list, max_length=1000, description="x values, one per value (scatter; optional for line)."
    )


class ChartSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["bar", "line", "scatter", "pie"] = Field(description="The kind of chart.")
    title: str = Field("", max_length=200)
    labels: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=200, description="Category or slice names, one per value."
    )
    series: list[Series] = Field(min_length=1, max_length=12, description="The data series.")
    x_label: str = Field("", max_length=100, description="x axis title.")
    y_label: str = Field("", max_length=100, description="y axis title.")
    filename: str = Field("chart.png", description="Name of the PNG file, e.g. sales.png.")

    @field_validator("filename")
    @classmethod
    def _png_name(cls, name: str) -> str:
        return check_filename(name.strip(), (".png",))

    @model_validator(mode="after")
    def _shapes_agree(self) -> ChartSpec:
        for i, s in enumerate(self.series):
            where = f"series.{i}"
            if self.labels and self.type != "scatter" and len(s.values) != len(self.labels):
                raise ValueError(f"{where} has {len(s.values)} values but there are {len(self.labels)} labels")
            if self.type == "scatter" and len(s.x) != len(s.values):
                raise ValueError(f"{where}: a scatter series needs one x value per value ({len(s.values)})")
            if self.type == "line" and s.x and len(s.x) != len(s.values):
                raise ValueError(f"{where} has {len(s.x)} x values for {len(s.values)} values")
            if self.type in ("bar", "pie") and s.x:
                raise ValueError(f"{where}: x values are for line and scatter charts; use labels")
        if self.type == "bar" and len({len(s.values) for s in self.series}) > 1:
            raise ValueError("all series of a bar chart need the same number of values")
        if self.type == "pie":
            if len(self.series) != 1:
                raise ValueError("a pie chart takes exactly one series")
            values = self.series[0].values
            if any(v < 0 for v in values) or sum(values) <= 0:
                raise ValueError("pie values must be non-negative and not all zero")
        return self


def render_png(spec: ChartSpec) -> bytes:
    """Draw the chart. Blocking (run it in a thread); uses a Figure of its own
    rather than pyplot's global state, so concurrent renders do not mix."""
    from matplotlib.figure import Figure  # imported on first use: it is slow to import

    fig = Figure(figsize=(8, 4.5), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    if spec.type == "pie":
        values = spec.series[0].values
        labels = spec.labels or [str(i) for i in range(1, len(values) + 1)]
        ax.pie(values, labels=labels, autopct="%1.1f%%", startangle=90, counterclock=False)
        ax.set_aspect("equal")
    elif spec.type == "bar":
        count = len(spec.series[0].values)
        width = 0.8 / len(spec.series)
        for i, s in enumerate(spec.series):
            offset = (i - (len(spec.series) - 1) / 2) * width
            ax.bar([p + offset for p in range(count)], s.values, width, label=s.name or None)
        ax.set_xticks(range(count), spec.labels or [str(p) for p in range(1, count + 1)])
    else:
        for s in spec.series:
            xs = s.x or list(range(len(s.values)))
            if spec.type == "line":
                ax.plot(xs, s.values, marker="o", label=s.name or None)
            else:
                ax.scatter(xs, s.values, label=s.name or None)
        if spec.type == "line" and spec.labels and not any(s.x for s in spec.series):
            ax.set_xticks(range(len(spec.labels)), spec.labels)
    if spec.type != "pie":
        if len(spec.labels) > 8 or any(len(label) > 10 for label in spec.labels):
            ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel(spec.x_label)
        ax.set_ylabel(spec.y_label)
        ax.grid(axis="y", alpha=0.3)
        if any(s.name for s in spec.series):
            ax.legend()
    ax.set_title(spec.title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_chart_tool(workspace: Workspace) -> Tool:
    @reports_errors
    async def render_chart(invocation: Invocation, args: dict[str, Any]) -> str:
        spec = parse_args(ChartSpec, args)
        png = await asyncio.to_thread(render_png, spec)
        replaced = workspace.put(spec.filename, png, "image/png")
        verb = "Replaced" if replaced else "Rendered"
        return f"{verb} {spec.filename} ({spec.type} chart, {len(png):,} bytes); it will be attached to your answer."

    return Tool("render_chart", DESCRIPTION, render_chart, tool_schema(ChartSpec), timeout=CHART_TIMEOUT)
