"""Check a YouTube-VIS (2019 / 2021 / 2022) or OVIS submission (the zip, or its results.json before zipping) before
uploading it: the servers read the same layout.

    python tools/validate_submission.py SUBMISSION.zip --ann valid.json
    python tools/validate_submission.py out/results.json --ann valid.json

Prints 'ok: N tracks in M videos' and exits 0, or prints every problem (one per line, the first 50 and
a count of the rest) and exits 2 with a last line that names the first problem: results.json at the zip root,
valid JSON, known video and category ids, finite scores, one compressed RLE (or null) of the video's size per
frame.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402

MAX_SHOWN = 50


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Validate a YouTube-VIS / OVIS submission (zip or results.json).")
    parser.add_argument("submission", help="submission zip with results.json at its root, or the results.json")
    parser.add_argument("--ann", required=True, help="the split's YouTube-VIS / OVIS JSON (videos and categories)")
    args = parser.parse_args(argv)
    from vis.errors import DataError
    from vis.evaluation.submission import read_results_file, validate_results

    def job():
        results, problems = read_results_file(args.submission)
        if not problems:
            problems = validate_results(results, args.ann)
        if problems:
            for line in problems[:MAX_SHOWN]:
                print(line)
            if len(problems) > MAX_SHOWN:
                print(f"... and {len(problems) - MAX_SHOWN} more problems")
            count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems, all listed above"
            raise DataError(f"{args.submission} is not a valid submission: {problems[0]} ({count})")
        num_videos = len({entry["video_id"] for entry in results})
        print(f"ok: {len(results)} tracks in {num_videos} videos")

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
