"""Bad raw input, one class per test: each is refused with one line naming the file, the line and the
value, and the fix; nothing is written or left behind (issue 12, "Bad input")."""

import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path

import polars as pl
import pytest
import raw_formats as rf
import yaml

from divlib.errors import DivlibError
from divlib.io import atomic_path, file_digest
from divlib.study.data import sources, synthetic_ratings
from divlib.study.data.handplaced import parse_netflix
from divlib.study.data.parsers import (
    parse_coat,
    parse_kuairec,
    parse_ml100k_grouplens,
    parse_ml100k_recbole,
)
from divlib.study.data.registry import ML1M_ZIP, fetch_raw, parse_raw
from divlib.study.data.sources import PinnedFile, fetch_from_wheel, fetch_url

ROOT = Path(__file__).resolve().parents[1]
TINY = {"users": 60, "items": 80, "ratings": 1500, "categories": 6, "seed": 2}
INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """An empty project (params.yaml only: tiny synthetic data), also the working directory."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["options"]["synthetic"] = TINY
    params["data"]["options"]["yahoo-r2"] = {"items": 4, "min_ratings": 4, "seed": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stage(name: str, dataset: str, project: Path) -> subprocess.CompletedProcess:
    script = ROOT / "stages" / f"{name}.py"
    return subprocess.run(
        [sys.executable, str(script), dataset],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def refused(done: subprocess.CompletedProcess) -> str:
    """The one error line of a stage that failed cleanly (exit 1, no traceback)."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and done.stderr.rstrip().endswith(errors[0]), done.stderr
    return errors[0]


def nothing_written(output: Path) -> bool:
    """Neither ``output`` nor a hidden temporary ``.name.*`` beside it exists."""
    return not output.exists() and not list(output.parent.glob(f".{output.name}.*"))


def write_inter(folder: Path, replace: dict[int, str] | None = None, text: str | None = None):
    """The fixture's recbole ml-100k files; ``replace``: line number → new content of ml-100k.inter."""
    inter, item = rf.write_recbole_ml100k(folder)
    lines = inter.read_text().splitlines()
    for number, line in (replace or {}).items():
        lines[number - 1] = line
    inter.write_text(text if text is not None else "\n".join(lines) + "\n")
    return inter, item


# 1. Raw files re-verified against their digests whenever they are read; meta.json records what was read


@pytest.mark.slow
def test_prepare_refuses_a_raw_file_cut_short_and_records_what_it_read(project):
    assert stage("download", "synthetic", project).returncode == 0
    ratings = project / "data" / "raw" / "synthetic" / "ratings.parquet"
    whole = ratings.read_bytes()
    recorded = json.loads((ratings.parent / "digests.json").read_text())["files"]
    ratings.write_bytes(whole[: len(whole) // 2])
    line = refused(stage("prepare", "synthetic", project))
    half = file_digest(ratings)
    assert line == (
        f"error: data/raw/synthetic/ratings.parquet: sha256 is {half} but "
        f"{recorded['ratings.parquet']} was expected; the file changed after download (cut short "
        "or edited?); re-download it (dvc repro -f download@synthetic)"
    )
    assert nothing_written(project / "data" / "prepared" / "synthetic")
    assert nothing_written(project / "metrics" / "synthetic" / "data.json")
    ratings.write_bytes(whole)
    assert stage("prepare", "synthetic", project).returncode == 0
    meta = json.loads((project / "data" / "prepared" / "synthetic" / "meta.json").read_text())
    raw = ratings.parent
    assert meta["raw_files"] == {
        name: {"bytes": (raw / name).stat().st_size, "sha256": file_digest(raw / name)}
        for name in ("ratings.parquet", "items.parquet")
    }


def test_a_pinned_file_is_checked_against_its_published_digest(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    inter, _ = rf.write_recbole_ml100k(raw)
    inter.write_bytes(inter.read_bytes()[:100])
    (raw / "digests.json").write_text(json.dumps({"source": "package-mirror", "files": {}}))
    pinned = "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"
    message = f"{inter}: sha256 is {file_digest(inter)} but {pinned} was expected; "
    with pytest.raises(DivlibError, match=re.escape(message)):
        parse_raw("ml-100k", source="package-mirror", raw_dir=raw, manual_dir=tmp_path, options={})
    (raw / "digests.json").write_text(json.dumps({"source": "grouplens", "files": {}}))
    with pytest.raises(DivlibError, match="downloaded from source 'grouplens' but data.sources"):
        parse_raw("ml-100k", source="package-mirror", raw_dir=raw, manual_dir=tmp_path, options={})


# 2. Values checked per dataset: the message names the file, the line and the value


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1\t2\t99\t881250950", "rating 99 is outside MovieLens's scale 1..5"),
        ("1\t2\t-300\t881250950", "rating -300 is outside MovieLens's scale 1..5"),
        ("1\t2\t255\t881250950", "rating 255 is outside MovieLens's scale 1..5"),
        ("1\t2\t3.5\t881250950", "rating 3.5 is not a whole star on MovieLens's scale 1..5"),
        ("1\t2\tnan\t881250950", "rating nan is outside MovieLens's scale 1..5"),
        ("1\t2\t\t881250950", "the rating is missing (MovieLens's scale 1..5)"),
        ("1\t2\tfive\t881250950", "rating 'five' is not a number"),
    ],
)
def test_ratings_off_the_scale_are_named_with_their_line(tmp_path, line, problem):
    inter, item = write_inter(tmp_path, {3: line})
    with pytest.raises(DivlibError, match=f"^{re.escape(f'{inter} line 3: {problem}')}$"):
        parse_ml100k_recbole(inter, item)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("-3\t2\t3\t881250950", "user id '-3' is not a whole number ≥ 1, as MovieLens's ids are"),
        ("0\t2\t3\t881250950", "user id '0' is not a whole number ≥ 1, as MovieLens's ids are"),
        ("1\t2.5\t3\t881250950", "item id '2.5' is not a whole number ≥ 1, as MovieLens's ids are"),
        ("u7\t2\t3\t881250950", "user id 'u7' is not a whole number ≥ 1, as MovieLens's ids are"),
    ],
)
def test_ids_out_of_range_are_named_with_their_line(tmp_path, line, problem):
    inter, item = write_inter(tmp_path, {4: line})
    with pytest.raises(DivlibError, match=f"^{re.escape(f'{inter} line 4: {problem}')}$"):
        parse_ml100k_recbole(inter, item)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty: it has no lines (0 bytes)"),
        ("\n\n", "is empty: it has no lines (2 bytes)"),
        (INTER_HEADER + "\n", "has only its header (line 1) and no data lines"),
    ],
)
def test_empty_and_header_only_files_are_refused(tmp_path, text, problem):
    inter, item = write_inter(tmp_path, text=text)
    with pytest.raises(DivlibError, match=f"^{re.escape(f'{inter} {problem}')}$"):
        parse_ml100k_recbole(inter, item)


def test_a_wrong_encoding_is_named_with_its_line_and_byte(tmp_path):
    inter, item = write_inter(tmp_path)
    data = inter.read_bytes().split(b"\n")
    data[4] = data[4].replace(b"881250952", b"88125\xff952")
    inter.write_bytes(b"\n".join(data))
    message = f"{inter} line 5: byte 0xff is not valid UTF-8; the file should be UTF-8 text"
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_ml100k_recbole(inter, item)
    # GroupLens ships u.item in latin-1: a copy re-encoded as UTF-8 would read as "CrÃ¨me"
    archive = rf.write_grouplens_ml100k(tmp_path)
    with zipfile.ZipFile(archive) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    members["ml-100k/u.item"] = members["ml-100k/u.item"].decode("latin-1").encode()
    rf.write_zip(archive, members)
    message = f"{archive}:ml-100k/u.item line 3: '3|Crème fraîche|01-Jan-1995||http://us.imdb"
    with pytest.raises(
        DivlibError,
        match=f"^{re.escape(message)}.*is UTF-8 text, but the file's "
        "encoding is latin-1; it was re-encoded$",
    ):
        parse_ml100k_grouplens(archive)


def test_a_wrong_separator_is_named(tmp_path):
    inter, item = rf.write_recbole_ml100k(tmp_path)
    inter.write_text(inter.read_text().replace("\t", ","))
    message = (
        f"{inter} line 1: 1 field where 4 tab-separated fields are expected (the line looks "
        "comma-separated); got 'user_id:token,item_id:token,rating:float,timestamp:float'"
    )
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_ml100k_recbole(inter, item)
    movies, ratings, movielens = rf.write_netflix(tmp_path)
    ratings.write_text(ratings.read_text().replace(",", "\t"))
    message = (
        f"{ratings} line 1: the header 'User_ID\\tRating\\tMovie_ID' has no column ['User_ID', "
        "'Rating', 'Movie_ID'] (the line looks tab-separated)"
    )
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_netflix(movies, ratings, movielens, users=5, min_ratings=3, seed=1)


def test_a_repeated_user_item_pair_is_named_with_both_lines(tmp_path):
    inter, item = write_inter(tmp_path, {9: "1\t1\t2\t881250999"})  # line 2 rated (1, 1) already
    message = f"{inter} line 9: user '1', item '1' is rated again (first on line 2)"
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_ml100k_recbole(inter, item)


def test_every_dataset_checks_its_own_values(tmp_path):
    coat = rf.write_coat(tmp_path / "coat.zip")
    rf.write_zip(
        coat,
        {
            "coat/train.ascii": b"0 3 0\n5 0 7\n",
            "coat/user_item_features/item_features.ascii": b"1 0 0 1\n0 1 0 0\n0 0 0 0\n",
        },
    )
    message = f"{coat}:coat/train.ascii line 2: rating 7 is outside Coat's scale 1..5"
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_coat(coat)
    kuairec = rf.write_kuairec(tmp_path / "KuaiRec.zip")
    with zipfile.ZipFile(kuairec) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    matrix = "KuaiRec 2.0/data/small_matrix.csv"
    members[matrix] = members[matrix].replace(b",0.0\n", b",-1.5\n")
    rf.write_zip(kuairec, members)
    message = f"{kuairec}:{matrix} line 4: watch_ratio -1.5 is not a finite number ≥ 0"
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_kuairec(kuairec)
    movies, ratings, movielens = rf.write_netflix(tmp_path)
    ratings.write_text("User_ID,Rating,Movie_ID\n")
    message = f"{ratings} has only its header (line 1) and no data lines"
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_netflix(movies, ratings, movielens, users=5, min_ratings=3, seed=1)


def test_synthetic_values_are_checked_through_parse_raw(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    tables = synthetic_ratings(**TINY)
    tables.ratings.with_columns(
        rating=pl.when(pl.int_range(pl.len()) == 9).then(255.0).otherwise("rating")
    ).write_parquet(raw / "ratings.parquet")
    tables.items.write_parquet(raw / "items.parquet")
    files = {name: file_digest(raw / name) for name in ("ratings.parquet", "items.parquet")}
    (raw / "digests.json").write_text(json.dumps({"source": "generator", "files": files}))
    message = (
        f"{raw}/ratings.parquet row 10: rating 255 is outside the synthetic generator's scale 1..5; "
        "the file is not the published release; re-download it (dvc repro -f download@synthetic)"
    )
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        parse_raw("synthetic", source="generator", raw_dir=raw, manual_dir=tmp_path, options=TINY)


@pytest.mark.slow
def test_prepare_names_a_bad_value_in_a_hand_placed_file_and_writes_nothing(project):
    manual = project / "data" / "manual" / "yahoo-r2"
    manual.mkdir(parents=True)
    train, _ = rf.write_yahoo(manual)
    lines = train.read_text().splitlines()
    lines[16] = "2\t0\t99"
    train.write_text("\n".join(lines) + "\n")
    assert stage("download", "yahoo-r2", project).returncode == 0
    assert refused(stage("prepare", "yahoo-r2", project)) == (
        "error: data/raw/yahoo-r2/train_0.txt line 17: rating 99 is outside Yahoo! Music's scale "
        "1..5; correct it in data/manual/yahoo-r2/ (data/raw/yahoo-r2/ holds a copy) and copy it "
        "again: dvc repro -f download@yahoo-r2"
    )
    assert nothing_written(project / "data" / "prepared" / "yahoo-r2")
    assert nothing_written(project / "metrics" / "yahoo-r2" / "data.json")


# 3. A download that cannot be made names data/manual/D/; a file put there is verified, then used


def offline(*args, **kwargs):
    raise urllib.error.URLError("offline")


def test_failed_download_names_the_manual_place_then_uses_the_file_put_there(project, monkeypatch):
    monkeypatch.setattr(sources.urllib.request, "urlopen", offline)
    content = b"the archive"
    pinned = PinnedFile("ml-1m.zip", hashlib.md5(content).hexdigest(), "md5")
    raw, manual = Path("data/raw/ml-1m"), Path("data/manual/ml-1m")
    url = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"

    def download() -> str:
        with atomic_path(raw) as folder:
            folder.mkdir()
            return fetch_url(url, folder / pinned.name, pinned, manual_dir=manual)

    message = (
        f"could not download {url} (<urlopen error offline>); check the network, or download that "
        "file by hand, put it at data/manual/ml-1m/ml-1m.zip and run the download again"
    )
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        download()
    assert nothing_written(project / raw)
    manual.mkdir(parents=True)
    (manual / "ml-1m.zip").write_bytes(b"another archive")
    with pytest.raises(DivlibError, match=r"^data/manual/ml-1m/ml-1m.zip: md5 is \w+ but "):
        download()
    assert nothing_written(project / raw) and (manual / "ml-1m.zip").exists()  # kept
    (manual / "ml-1m.zip").write_bytes(content)
    assert download() == pinned.digest
    assert (raw / "ml-1m.zip").read_bytes() == content


def test_download_stage_refuses_a_wrong_hand_placed_file(project):
    manual = project / "data" / "manual" / "ml-1m"
    manual.mkdir(parents=True)
    (manual / "ml-1m.zip").write_bytes(b"not the archive")
    line = refused(stage("download", "ml-1m", project))
    assert line == (
        f"error: data/manual/ml-1m/ml-1m.zip: md5 is {file_digest(manual / 'ml-1m.zip', 'md5')} "
        f"but {ML1M_ZIP.digest} was expected; it is not the file from "
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip: replace it with that file, or "
        "remove it to download"
    )
    assert nothing_written(project / "data" / "raw" / "ml-1m")
    assert (manual / "ml-1m.zip").read_bytes() == b"not the archive"


def test_a_wheel_that_pip_cannot_fetch_is_taken_from_the_manual_place(tmp_path, monkeypatch):
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found\n")
    monkeypatch.setattr(sources.subprocess, "run", lambda *args, **kwargs: failed)
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    rf.write_zip(wheel, {"pkg/data.txt": b"ratings"})
    pinned = PinnedFile(wheel.name, file_digest(wheel))
    members = {"pkg/data.txt": PinnedFile("data.txt", hashlib.sha256(b"ratings").hexdigest())}
    manual, raw = tmp_path / "manual", tmp_path / "raw"
    message = (
        "pip could not download pkg==1.0 (ERROR: No matching distribution found); check access to "
        f"the package index, or download {wheel.name} from https://pypi.org/project/pkg/1.0/#files "
        f"by hand, put it at {manual / wheel.name} and run the download again"
    )
    with pytest.raises(DivlibError, match=f"^{re.escape(message)}$"):
        fetch_from_wheel("pkg==1.0", pinned, members, raw, manual_dir=manual)
    manual.mkdir()
    wheel.rename(manual / wheel.name)
    digests = fetch_from_wheel("pkg==1.0", pinned, members, raw, manual_dir=manual)
    assert digests == {wheel.name: pinned.digest, "data.txt": members["pkg/data.txt"].digest}
    assert (raw / "data.txt").read_bytes() == b"ratings"


def test_hand_placed_datasets_name_their_manual_place_in_one_line(tmp_path):
    with pytest.raises(DivlibError) as caught:
        fetch_raw(
            "yahoo-r2",
            source="webscope",
            raw_dir=tmp_path / "raw",
            manual_dir=Path("data/manual/yahoo-r2"),
            options={"items": 4, "min_ratings": 4, "seed": 1},
        )
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "missing raw file(s) data/manual/yahoo-r2/train_0.txt, "
        "data/manual/yahoo-r2/song-attributes.txt: Yahoo-R2 is licensed through Yahoo! Webscope"
    )
