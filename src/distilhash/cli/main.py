"""Entry point of the ``distilhash`` command.

Each pipeline stage lives in its own module ``distilhash.cli.<stage>`` exposing either ``app``
(a Typer group of subcommands) or ``command`` (a single command). Stage modules import heavy
libraries inside their functions, so ``distilhash --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

from distilhash.cli.checks import install as install_checks
from distilhash.cli.errors import Typer

__all__ = ["app", "STAGES"]

#: (stage name, module, one-line help) in pipeline order.
STAGES: list[tuple[str, str, str]] = [
    ("paths", "distilhash.cli.paths", "Show where artefacts are stored ($DISTILHASH_HOME) and what is there."),
    ("data", "distilhash.cli.data", "Prepare, inspect and check datasets and splits."),
    ("teacher", "distilhash.cli.teacher", "Fit the offline teacher; extract and cache teacher features."),
    ("student", "distilhash.cli.student", "Pretrain the LCDH student's image network on the pretraining corpus (no labels)."),
    ("train", "distilhash.cli.train", "Train a method (dcmq, lcdh, soda, baselines) on cached features."),
    ("encode", "distilhash.cli.encode", "Encode a dataset split with a trained model."),
    ("eval", "distilhash.cli.eval", "Evaluate a trained model: mAP, PR and precision@N curves."),
    ("query-encoder", "distilhash.cli.query_encoder", "Fit a model's static query text encoder (model2vec, distilled from the teacher's text tower)."),
    ("index", "distilhash.cli.index", "Build, update, verify and inspect code indexes."),
    ("search", "distilhash.cli.search", "Search an index by text or image."),
    ("bench", "distilhash.cli.bench", "Run a benchmark suite and write results under bench/results/."),
    ("serve", "distilhash.cli.serve", "Start the HTTP search service and web page."),
    ("demo", "distilhash.cli.demo", "The openclipart demo (make demo) and its example-query and open-vocabulary reports."),
]

app = Typer(  # commands report errors as one line and status 1 (distilhash.cli.errors)
    name="distilhash",
    help="Compact image<->text retrieval codes distilled from vision-language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register_stages() -> None:
    for name, module_name, help_text in STAGES:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name, help=help_text)
        elif hasattr(module, "command"):
            app.command(name=name, help=help_text)(module.command)


def _print_version(value: bool) -> None:
    """Eager ``--version``: runs while options are parsed, before a command is required."""
    if value:
        from distilhash import __version__

        typer.echo(f"distilhash {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Compact image<->text retrieval codes distilled from vision-language models.

    Artefacts live under $DISTILHASH_HOME (see `distilhash paths`).
    """


def _plain_flags_in_help() -> None:
    """``--help`` shows no ``<bool>`` after options that are plain flags (``--json``); Typer prints every option's type."""
    from typer.core import TyperOption

    typed = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx):  # noqa: ANN001 - click's context
        return None if self.is_flag and not self.count else typed(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_register_stages()
_plain_flags_in_help()
install_checks(app)  # every numeric and path option checked while parsing (distilhash.cli.checks)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
