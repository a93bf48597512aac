"""YouTube-VIS evaluation of a results file: video AP / AR as the official evaluation computes them.

    python tools/eval_ytvis.py --ann GT.json --results results.json [--json]

Prints the AP / AP50 / AP75 / APs / APm / APl / AR1 / AR10 table (percent) and the identity switches
(vis/evaluation/identity.py), or with --json one JSON line with exactly those eight keys as fractions (-1 where
the ground truth has no track to define the value); --json --identity adds IDSW, IDSW_per_video and
matched_fraction to it.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vis.cli import run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="YouTube-VIS video AP/AR of a results file.")
    parser.add_argument("--ann", required=True, help="YouTube-VIS ground-truth JSON (with annotations)")
    parser.add_argument("--results", required=True, help="results JSON: a list of tracks")
    parser.add_argument("--json", action="store_true", help="print one JSON line of fractions instead of the table")
    parser.add_argument("--identity", action="store_true", help="with --json: add the identity-switch keys")
    parser.add_argument("--idsw-score-thr", type=float, default=0.3,
                        help="tracks below this score are left out of the identity-switch count (default 0.3)")
    args = parser.parse_args(argv)
    from vis.evaluation.identity import IDENTITY_KEYS, evaluate_tracks, format_identity
    from vis.evaluation.ytvis_eval import TABLE_KEYS, evaluate_ytvis, format_table

    def job():
        if args.json and not args.identity:  # the identity switches are a second pass over every mask
            metrics = evaluate_ytvis(args.ann, args.results)
        else:
            metrics = evaluate_tracks(args.ann, args.results, idsw_score_thr=args.idsw_score_thr)
        if args.json:
            keys = TABLE_KEYS + (IDENTITY_KEYS if args.identity else ())
            print(json.dumps({key: metrics[key] for key in keys}))
        else:
            print(format_table(metrics))
            print(format_identity(metrics))

    return run_tool(job)


if __name__ == "__main__":
    sys.exit(main())
