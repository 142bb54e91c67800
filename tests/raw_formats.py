"""Tiny raw files in each dataset's real format, written by the tests (no network, nothing checked in)."""

import io
import zipfile
from pathlib import Path

# Four users, five movies; item 3 has the accented title and no year (like ML-100K's oddities).
ML100K_RATINGS = [
    ("1", "1", 5, 881250949),
    ("1", "2", 3, 881250950),
    ("2", "1", 4, 881250951),
    ("2", "3", 2, 881250952),
    ("3", "4", 1, 881250953),
    ("3", "5", 4, 881250954),
    ("10", "2", 5, 881250955),
    ("10", "5", 3, 881250956),
]
ML100K_MOVIES = [
    ("1", "Toy Story", "1995", ["Animation", "Children's", "Comedy"]),
    ("2", "GoldenEye", "1995", ["Action", "Adventure", "Thriller"]),
    ("3", "Crème fraîche", "", ["unknown"]),
    ("4", "Heat", "1995", ["Action", "Crime", "Thriller"]),
    ("5", "Casablanca", "1942", ["Drama", "Romance", "War"]),
]
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def write_recbole_ml100k(folder: Path) -> tuple[Path, Path]:
    inter = folder / "ml-100k.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ML100K_RATINGS)
    )
    item = folder / "ml-100k.item"
    item.write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        + "".join(f"{i}\t{t}\t{y}\t{' '.join(g)}\n" for i, t, y, g in ML100K_MOVIES),
        encoding="utf-8",
    )
    return inter, item


def write_grouplens_ml100k(folder: Path) -> Path:
    data = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ML100K_RATINGS)
    items = ""
    for i, title, year, genres in ML100K_MOVIES:
        full = f"{title} ({year})" if year else title
        flags = "|".join("1" if name in genres else "0" for name in GENRES)
        items += f"{i}|{full}|01-Jan-{year or 1995}||http://us.imdb.com/M/x|{flags}\n"
    return write_zip(
        folder / "ml-100k.zip",
        {"ml-100k/u.data": data.encode(), "ml-100k/u.item": items.encode("latin-1")},
    )


def write_ml1m(path: Path) -> Path:
    ratings = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::4::978299000\n"
    movies = (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3408::Erin Brockovich (2000)::Drama\n"
        "2571::Matrix, The (1999)::Action|Sci-Fi|Thriller\n"
        "3000::Amélie (2001)::Comedy|Romance\n"
    )
    return write_zip(
        path, {"ml-1m/ratings.dat": ratings.encode(), "ml-1m/movies.dat": movies.encode("latin-1")}
    )


def write_coat(path: Path) -> Path:
    train = "0 3 0\n5 0 1\n"  # 2 users × 3 items
    features = "1 0 0 1\n0 1 0 0\n0 0 0 0\n"  # 3 items × 4 attributes; item 2 has none
    return write_zip(
        path,
        {
            "coat/train.ascii": train.encode(),
            "coat/test.ascii": b"0 0 0\n0 0 0\n",
            "coat/user_item_features/item_features.ascii": features.encode(),
        },
    )


def write_kuairec(path: Path) -> Path:
    matrix = (
        "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
        "14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,0.722\n"
        "14,183,11635,6100,2020-07-05 05:28:00.057,20200705,1593898080.057,1.907\n"
        "19,148,0,6067,,,,0.0\n"
        "19,183,30000,6100,2020-07-05 06:00:00.000,20200705,1593900000.0,3.5\n"
        "21,148,3000,6067,2020-07-05 06:00:00.000,20200705,1593900001.0,0.75\n"
    )
    categories = 'video_id,feat\n148,"[8]"\n183,"[27, 9]"\n'
    return write_zip(
        path,
        {
            "KuaiRec 2.0/data/small_matrix.csv": matrix.encode(),
            "KuaiRec 2.0/data/item_categories.csv": categories.encode(),
        },
    )


def write_netflix(folder: Path) -> tuple[Path, Path, Path]:
    movies = folder / "Netflix_Dataset_Movie.csv"
    movies.write_text(
        "Movie_ID,Year,Name\n"
        "1,1975,One Flew Over the Cuckoo's Nest\n"
        "2,1999,The Matrix\n"  # matches "Matrix, The (1999)"
        "3,2000,Erin Brockovich\n"
        "4,2001,Not In MovieLens\n"
        "5,2002,Amélie\n"  # one year off from ML's 2001
    )
    rows = ["User_ID,Rating,Movie_ID"]
    for user in range(1, 8):
        for movie in range(1, 6):
            if (user + movie) % 4:
                rows.append(f"{user},{1 + (user * movie) % 5},{movie}")
    ratings = folder / "Netflix_Dataset_Rating.csv"
    ratings.write_text("\n".join(rows) + "\n")
    return movies, ratings, write_ml1m(folder / "ml-1m.zip")


def write_yahoo(folder: Path) -> tuple[Path, Path]:
    train = folder / "train_0.txt"
    train.write_text("".join(f"{u}\t{s}\t{1 + (u + s) % 5}\n" for u in range(6) for s in range(8)))
    attributes = folder / "song-attributes.txt"
    attributes.write_text("".join(f"{s}\t{s // 2}\t{s // 3}\t{s % 3}\n" for s in range(8)))
    return train, attributes


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    path.write_bytes(buffer.getvalue())
    return path
