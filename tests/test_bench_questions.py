"""question_argv: a merged bench script's committed commands keep working without a sub-command."""

import pytest

from distilhash.benchmark.questions import question_argv

Q = {"extraction": "node_loss", "fanout": "replica_failover"}


def test_the_default_question_goes_first_when_none_is_named():
    assert question_argv([], Q, "extraction") == ["extraction"]
    assert question_argv(["--trials", "3"], Q, "extraction") == ["extraction", "--trials", "3"]


def test_a_named_question_or_a_help_request_is_left_alone():
    assert question_argv(["fanout", "--trials", "1"], Q, "extraction") == ["fanout", "--trials", "1"]
    assert question_argv(["--help"], Q, "extraction") == ["--help"]


def test_an_unknown_default_is_refused_by_name():
    with pytest.raises(ValueError, match="'serve'.*extraction"):
        question_argv([], Q, "serve")
