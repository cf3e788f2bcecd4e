"""The demo's progress rendering: /status rows in, lines (and ANSI redraws) out."""

from __future__ import annotations

import io

from cli.progress import (
    ASCII,
    CLEAR_LINE,
    HIDE_CURSOR,
    SHOW_CURSOR,
    UNICODE,
    ProgressDisplay,
    StageCounts,
    bar,
    bar_lines,
    charset_for,
    clip,
    details,
    expected,
    log_line,
    normalize,
    redraw,
    subtract,
    total_in_flight,
)

STAGES = ("scrape", "intel", "strategy", "subject", "messaging")


def counts(**per_stage: dict[str, int]) -> list[StageCounts]:
    return normalize([{"stage": stage, **values} for stage, values in per_stage.items()])


class FakeTty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_stage_is_listed_in_pipeline_order_even_without_a_row():
    rows = normalize([{"stage": "intel", "queued": 3}, {"stage": "scrape", "completed": 3}])
    assert [c.stage for c in rows] == list(STAGES)
    assert rows[0].completed == 3 and rows[1].queued == 3
    assert rows[4] == StageCounts(stage="messaging")


def test_missing_and_null_counts_read_as_zero():
    (row,) = normalize([{"stage": "scrape", "queued": None}], stages=("scrape",))
    assert row.queued == 0 and row.pending == 0


def test_in_flight_is_queued_plus_started_over_all_stages():
    rows = counts(scrape={"queued": 2, "started": 1}, intel={"started": 4, "completed": 9})
    assert total_in_flight(rows) == 7


def test_the_first_stage_expects_every_lead_that_left_pending():
    rows = counts(scrape={"queued": 5, "skipped": 1})
    assert expected(rows, total=6)[0] == 6


def test_a_lead_that_failed_at_scrape_is_not_expected_at_later_stages():
    rows = counts(
        scrape={"completed": 4, "failed": 1, "skipped": 1},
        intel={"pending": 2, "completed": 4},
        strategy={"pending": 2, "queued": 4},
        subject={"pending": 6},
        messaging={"pending": 6},
    )
    assert expected(rows, total=6) == [6, 4, 4, 4, 4]


def test_leads_still_in_flight_upstream_are_expected_downstream():
    rows = counts(
        scrape={"started": 3, "completed": 3},
        intel={"pending": 3, "queued": 3},
        strategy={"pending": 6},
        subject={"pending": 6},
        messaging={"pending": 6},
    )
    assert expected(rows, total=6) == [6, 6, 6, 6, 6]


def test_a_bar_is_full_only_when_every_expected_lead_has_finished():
    assert bar(9, 0, 10, 10, ASCII) == "#########."
    assert bar(10, 0, 10, 10, ASCII) == "##########"
    assert bar(99, 0, 100, 10, ASCII) == "#########."


def test_a_bar_draws_completed_cells_before_failed_and_skipped_ones():
    assert bar(6, 2, 10, 10, ASCII) == "######xx.."
    assert bar(6, 2, 10, 10, UNICODE) == "██████▒▒░░"


def test_a_stage_that_expects_nothing_draws_an_empty_bar():
    assert bar(0, 0, 0, 5, ASCII) == "....."


def test_a_bar_never_overflows_its_width():
    assert len(bar(12, 5, 10, 8, ASCII)) == 8


def test_details_name_only_the_states_that_have_leads():
    c = StageCounts(stage="scrape", completed=24, failed=1, skipped=1, queued=0)
    assert details(c) == "24 completed · 1 failed · 1 skipped"


def test_a_stage_with_nothing_yet_is_waiting():
    assert details(StageCounts(stage="intel", pending=5)) == "waiting"


def test_the_terminal_view_has_a_header_and_one_bar_per_stage():
    rows = counts(scrape={"completed": 2, "queued": 2}, intel={"pending": 2, "queued": 2})
    lines = bar_lines(rows, total=4, elapsed=3.25, bar_width=8, charset=ASCII)
    assert len(lines) == 6
    assert "3.2 s" in lines[0] or "3.3 s" in lines[0]
    assert "4 in flight" in lines[0]
    assert lines[1].split() == ["scrape", "####....", "2/4", "2", "completed,", "2", "queued"]
    assert lines[2].split()[:3] == ["intel", "........", "0/4"]


def test_stage_names_and_counts_line_up_in_columns():
    rows = counts(scrape={"completed": 10}, intel={"completed": 3, "started": 7})
    lines = bar_lines(rows, total=10, elapsed=0, bar_width=10, charset=ASCII)[1:]
    bar_columns = {line.index("#") for line in lines if "#" in line}
    assert len(bar_columns) == 1
    assert {line.index("/") for line in lines} == {lines[0].index("/")}


def test_the_log_line_shows_each_stage_and_what_did_not_complete():
    rows = counts(
        scrape={"completed": 5, "failed": 1, "skipped": 1},
        intel={"pending": 2, "completed": 2, "started": 3},
    )
    line = log_line(rows, total=7, elapsed=4.0)
    assert line.startswith("[   4.0 s] ")
    assert "scrape 7/7 (1 failed, 1 skipped)" in line
    assert "intel 2/5" in line
    assert line.endswith("; 3 in flight")


def test_subtracting_the_baseline_leaves_only_this_runs_leads():
    before = counts(scrape={"completed": 10, "failed": 2})
    now = counts(scrape={"completed": 13, "failed": 2, "queued": 4})
    (scrape, *_) = subtract(now, before)
    assert (scrape.completed, scrape.failed, scrape.queued) == (3, 0, 4)


def test_subtracting_never_goes_below_zero():
    before = counts(scrape={"queued": 5})
    (scrape, *_) = subtract(counts(scrape={"completed": 5}), before)
    assert scrape.queued == 0 and scrape.completed == 5


def test_clipping_keeps_short_lines_and_cuts_long_ones_to_the_width():
    assert clip("short", 80) == "short"
    cut = clip("x" * 100, 40)
    assert len(cut) == 39 and cut.endswith("…")


def test_a_redraw_moves_up_over_the_previous_block_and_clears_each_line():
    text = redraw(["a", "b"], previous_height=2)
    assert text == f"\x1b[2F{CLEAR_LINE}a\n{CLEAR_LINE}b\n"


def test_the_first_draw_does_not_move_the_cursor():
    assert redraw(["a"], previous_height=0) == f"{CLEAR_LINE}a\n"


def test_a_shorter_redraw_clears_the_leftover_lines():
    text = redraw(["a"], previous_height=3)
    assert text.count(CLEAR_LINE) == 3
    assert text.endswith("\x1b[2F")


def test_block_characters_are_used_only_where_the_stream_can_encode_them():
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    latin = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    assert charset_for(utf8) is UNICODE
    assert charset_for(latin) is ASCII


def test_on_a_terminal_progress_is_redrawn_in_place():
    out = FakeTty()
    display = ProgressDisplay(out, total=4, columns=120)
    display.update(counts(scrape={"queued": 4}), 0.0)
    display.update(counts(scrape={"completed": 4}, intel={"queued": 4}), 0.5)
    display.close()
    text = out.getvalue()
    assert text.startswith(HIDE_CURSOR)
    assert text.count("\x1b[6F") == 1, "the second draw goes back up over the six lines"
    assert text.endswith(SHOW_CURSOR)


def test_on_a_terminal_no_line_is_wider_than_the_terminal():
    out = FakeTty()
    display = ProgressDisplay(out, total=1000, columns=50)
    display.update(counts(scrape={"completed": 500, "failed": 100, "queued": 400}), 1.0)
    for line in out.getvalue().split("\n"):
        visible = line.replace(HIDE_CURSOR, "").replace(CLEAR_LINE, "")
        assert len(visible) < 50


def test_elsewhere_a_line_is_printed_per_change_at_most_every_two_seconds():
    out, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(out, total=2, tty=False, clock=clock)
    display.update(counts(scrape={"queued": 2}), 0.0)
    clock.now = 0.5
    display.update(counts(scrape={"started": 2}), 0.5)
    clock.now = 2.5
    display.update(counts(scrape={"completed": 2}), 2.5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "scrape 0/2" in lines[0] and "scrape 2/2" in lines[1]
    assert "\x1b" not in out.getvalue()


def test_elsewhere_nothing_is_printed_when_nothing_changed():
    out, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(out, total=2, tty=False, clock=clock)
    for second in range(10):
        clock.now = float(second * 3)
        display.update(counts(scrape={"queued": 2}), clock.now)
    assert len(out.getvalue().splitlines()) == 1


def test_the_final_state_is_printed_even_inside_the_two_second_interval():
    out, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(out, total=2, tty=False, clock=clock)
    display.update(counts(scrape={"queued": 2}), 0.0)
    clock.now = 0.5
    display.update(counts(scrape={"completed": 2}), 0.5, force=True)
    assert len(out.getvalue().splitlines()) == 2


def test_closing_a_display_that_never_drew_writes_nothing():
    out = FakeTty()
    ProgressDisplay(out, total=1).close()
    assert out.getvalue() == ""
