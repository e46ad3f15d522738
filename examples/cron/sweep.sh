#!/usr/bin/env bash
# Sweeps old AMIs, their snapshots and old launch template versions in each region with
# `amikeeper sweep --apply`, from cron or a CI job; one JSON report per region.
#
#   sweep.sh [REGION...]            # default: $AMIKEEPER_REGIONS (space-separated), else $AWS_REGION
#
# Environment:
#   AMIKEEPER_CONFIG    the configuration (default: keeper.toml beside this script)
#   AMIKEEPER_REPORTS   where the reports go (default: ./amikeeper-reports), as
#                       sweep-<region>-<UTC time>.json
#   AMIKEEPER_APPLY     0: only plan (default 1: act on the plan)
#   AMIKEEPER           the amikeeper binary (default: amikeeper on PATH)
#   AWS_PROFILE, AWS_ENDPOINT_URL, ...: the AWS SDK's own (credentials come from its default chain)
#
# Exit codes, as amikeeper's:
#   0  every region was swept
#   1  some AWS work failed in some region; everything else was still done, in that region and
#      the others, and the next run retries what failed (the report says what)
#   2  bad usage or configuration: nothing was swept (stops at once, as every region would fail)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${AMIKEEPER_CONFIG:-$here/keeper.toml}
reports=${AMIKEEPER_REPORTS:-./amikeeper-reports}
amikeeper=${AMIKEEPER:-amikeeper}

if [ "$#" -gt 0 ]; then
    regions=("$@")
else
    read -r -a regions <<< "${AMIKEEPER_REGIONS:-${AWS_REGION:-}}"
fi
if [ "${#regions[@]}" -eq 0 ]; then
    echo "sweep.sh: no region: pass regions, or set AMIKEEPER_REGIONS or AWS_REGION" >&2
    exit 2
fi
if ! command -v "$amikeeper" > /dev/null; then
    echo "sweep.sh: $amikeeper is not installed (or not on PATH)" >&2
    exit 2
fi
apply=(--apply)
if [ "${AMIKEEPER_APPLY:-1}" = 0 ]; then
    apply=()
fi
mkdir -p "$reports" || exit 2

stamp=$(date -u +%Y%m%dT%H%M%SZ)
status=0
for region in "${regions[@]}"; do
    report="$reports/sweep-$region-$stamp.json"
    # ${apply[@]+...}: an empty array under `set -u` in bash before 4.4.
    "$amikeeper" sweep --config "$config" ${apply[@]+"${apply[@]}"} --region "$region" > "$report"
    code=$?
    if [ ! -s "$report" ]; then
        rm -f "$report"
        report="no report; amikeeper's message is above"
    fi
    case $code in
        0) echo "sweep.sh: $region: swept ($report)" >&2 ;;
        1)
            echo "sweep.sh: $region: some AWS work failed; the rest was done, and the next run retries ($report)" >&2
            status=1
            ;;
        2)
            echo "sweep.sh: $region: bad configuration or arguments; nothing swept" >&2
            exit 2
            ;;
        *)
            echo "sweep.sh: $region: amikeeper exited with $code ($report)" >&2
            status=1
            ;;
    esac
done
exit "$status"
