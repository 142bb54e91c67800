"""Time and peak memory of the synthetic generator and the split, from toy size to Netflix-Prize scale.

python bench/synthetic.py [--users 480189] [--items 17770] [--ratings 100000000]
"""

import argparse
import resource
import time

from divlib.study.data import split_ratings, synthetic_ratings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=480_189)
    parser.add_argument("--items", type=int, default=17_770)
    parser.add_argument("--ratings", type=int, default=100_000_000)
    args = parser.parse_args()
    start = time.perf_counter()
    raw = synthetic_ratings(users=args.users, items=args.items, ratings=args.ratings, seed=1)
    generated = time.perf_counter()
    ratings = raw.ratings
    _, _, _, counts = split_ratings(ratings, test_fraction=0.2, val_fraction=0.2, seed=1)
    split = time.perf_counter()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"{args.users} users x {args.items} items: {len(ratings):,} ratings generated in "
        f"{generated - start:.1f} s, split in {split - generated:.1f} s ({counts}); "
        f"peak RSS {peak_gib:.1f} GiB"
    )


if __name__ == "__main__":
    main()
