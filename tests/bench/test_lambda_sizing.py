"""bench/lambda_sizing.py: Lambda's CPU share, its price, the cgroup that enforces the share (written
into a temporary folder standing in for /sys/fs/cgroup, so no root is needed) and the table."""

from pathlib import Path

import pytest

from bench.lambda_sizing import (
    CgroupUnavailable,
    cfs_quota_us,
    cost_per_million,
    cpu_limited_group,
    parse_args,
    read_cpu_stat,
    render_markdown,
    tflite_threads,
    vcpu_share,
)


def test_one_vcpu_at_1769_mb_and_proportional_around_it() -> None:
    assert vcpu_share(1769) == 1.0
    assert vcpu_share(512) == pytest.approx(0.2894, abs=1e-4)
    assert vcpu_share(3008) == pytest.approx(1.7004, abs=1e-4)
    for outside in (127, 10_241):
        with pytest.raises(ValueError, match="128 to 10240"):
            vcpu_share(outside)


@pytest.mark.parametrize(
    ("memory_mb", "threads"), [(512, 1), (1024, 1), (1769, 1), (1770, 2), (3008, 2), (10_240, 2)]
)
def test_threads_cover_the_share_up_to_two(memory_mb: int, threads: int) -> None:
    assert tflite_threads(vcpu_share(memory_mb)) == threads


def test_quota_is_the_share_of_each_period() -> None:
    assert cfs_quota_us(vcpu_share(512)) == 28_943
    assert cfs_quota_us(vcpu_share(1769)) == 100_000
    assert cfs_quota_us(vcpu_share(3008)) == 170_040
    assert cfs_quota_us(0.5, period_us=50_000) == 25_000


def test_cost_bills_whole_milliseconds_plus_the_request_charge() -> None:
    # 0.1 s at 1 GB: 0.1 GB-s * 0.0000166667 USD, a million times, plus 0.20 USD of requests
    assert cost_per_million(100, 1024) == pytest.approx(1.86667)
    assert cost_per_million(99.01, 1024) == pytest.approx(cost_per_million(100, 1024))
    assert cost_per_million(100.2, 512) == pytest.approx(1e6 * 0.101 * 0.5 * 0.0000166667 + 0.20)


def _kernel_removes_files(group: Path) -> None:
    """rmdir of a real cgroup takes its interface files with it; a plain folder needs them gone."""
    for file in group.iterdir():
        file.unlink()


def test_cgroup_v1_gets_period_and_quota_and_is_removed(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    with cpu_limited_group(vcpu_share(3008), tmp_path, name="bench-1") as group:
        assert group == tmp_path / "cpu" / "bench-1"
        assert (group / "cpu.cfs_period_us").read_text() == "100000"
        assert (group / "cpu.cfs_quota_us").read_text() == "170040"
        _kernel_removes_files(group)
    assert not group.exists()


def test_cgroup_v2_gets_cpu_max_and_its_parent_hands_the_controller_down(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    (tmp_path / "cpu").mkdir()  # a v1-looking folder must not win over the unified hierarchy
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    with cpu_limited_group(vcpu_share(512), tmp_path, name="bench-2") as group:
        assert group == tmp_path / "bench-2"
        assert (group / "cpu.max").read_text() == "28943 100000"
        assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
        _kernel_removes_files(group)
    assert not group.exists()


def test_cgroup_is_removed_when_the_measurement_fails(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory\n")
    with pytest.raises(RuntimeError, match="child died"), cpu_limited_group(1.0, tmp_path, name="g") as group:
        _kernel_removes_files(group)
        raise RuntimeError("child died")
    assert not (tmp_path / "g").exists()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "cpu memory\n"  # already handed down


def test_no_cpu_controller_says_how_the_limit_is_applied_and_what_is_missing(tmp_path: Path) -> None:
    with (
        pytest.raises(CgroupUnavailable, match=r"CFS quota.*cpu\.cfs_quota_us.*neither"),
        cpu_limited_group(1.0, tmp_path),
    ):
        pass
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(CgroupUnavailable, match="does not list cpu"), cpu_limited_group(1.0, tmp_path):
        pass


def test_a_group_that_cannot_be_created_is_reported(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "taken").write_text("")
    with (
        pytest.raises(CgroupUnavailable, match="Could not create"),
        cpu_limited_group(1.0, tmp_path, name="taken"),
    ):
        pass


def test_cpu_stat_counters_are_read(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("nr_periods 11\nnr_throttled 6\nthrottled_time 216780434\n")
    assert read_cpu_stat(tmp_path) == {"nr_periods": 11, "nr_throttled": 6, "throttled_time": 216780434}


def _report(cold: dict | None) -> dict:
    size = {
        "memory_mb": 512,
        "vcpu_share": vcpu_share(512),
        "threads": 1,
        "warm_ms": {"median": 120.04, "mean": 130.0, "p95": 151.0},
        "cold_start_ms": cold,
        "peak_rss_mb": 112.4,
        "cost_per_million_usd": {
            "median": cost_per_million(120.04, 512),
            "mean": cost_per_million(130.0, 512),
        },
    }
    return {
        "model": "m.tflite",
        "images": 124,
        "rounds": 100,
        "warmup": 5,
        "cold_runs": 3,
        "cpu_count": 2,
        "cgroup_version": 1,
        "cfs_period_us": 100_000,
        "sizes": [size],
    }


def test_markdown_table_has_one_row_per_size_with_its_figures() -> None:
    table = render_markdown(_report({"median": 812.4, "runs": [812.4]}))
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| memory MB"))
    assert "warm median / mean / p95 ms" in header and "cost per 1M predictions (USD) at median" in header
    row = lines[lines.index(header) + 2]
    # 121 ms billed at 0.5 GB: 1.01 USD per million (+0.20 requests); the mean, 130 ms: 1.08 + 0.20
    assert row == "| 512 | 0.29 | 1 | 120.0 / 130.0 / 151.0 | 812 | 112 | 1.21 | 1.28 |"
    assert "0.0000166667 per GB-s" in table
    assert render_markdown(_report(None)).splitlines()[-1].split(" | ")[4] == "-"


def test_arguments_default_to_the_four_sizes_and_refuse_sizes_lambda_lacks() -> None:
    args = parse_args([])
    assert args.memory == [512, 1024, 1769, 3008] and args.rounds == 100 and args.cold_runs == 3
    with pytest.raises(SystemExit):
        parse_args(["--memory", "64"])
