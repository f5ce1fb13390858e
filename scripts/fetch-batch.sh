#!/usr/bin/env bash
# Fetch a list of URLs through FetchApi and print one JSON line per URL, in input order.
#
#   scripts/fetch-batch.sh [options] [FILE]      URLs one per line from FILE, or from stdin; blank lines and #comments skipped
#
#   --check             fetch nothing: print each URL's verdict (allowed, blocked, invalid), reason and normalized form
#   --resolve           with --check: also resolve host names (DNS only) and judge every address
#   --concurrency N     fetches of this batch in flight at once (server default 20)
#   --max-attempts N    attempts per URL (server default 3)
#   --timeout S         seconds per attempt (server default 10)
#   --include-body      return textual bodies in response.body
#   --fail-on-error     exit 1 when any slot failed or was cancelled (with --check: any URL blocked or invalid)
#   --idempotency-key K submit with this Idempotency-Key (default: a new one per run, printed on stderr); run again
#                       with the printed key after a crash or a lost connection, and the same batch is read, not a new one
#   -q, --quiet         no progress bar
#
# Environment: FETCHAPI_URL (default http://localhost:5000), FETCHAPI_KEY (sent as a bearer token when set).
# Needs bash, curl and jq. Honours Retry-After on 429 and 503, and retries a request whose connection failed (the POST
# is safe to retry: it carries the Idempotency-Key). Exit codes: 0 ok, 1 failed slots (--fail-on-error), 2 error.
set -euo pipefail

base=${FETCHAPI_URL:-http://localhost:5000}
base=${base%/}
options='{}'
fail_on_error=false
quiet=false
check=false
resolve=false
idempotency_key=
input=-

die() { echo "fetch-batch: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --concurrency) options=$(jq -c --argjson v "$2" '.concurrency = $v' <<<"$options") || die "--concurrency needs a number"; shift 2 ;;
        --max-attempts) options=$(jq -c --argjson v "$2" '.maxAttempts = $v' <<<"$options") || die "--max-attempts needs a number"; shift 2 ;;
        --timeout) options=$(jq -c --argjson v "$2" '.timeoutSeconds = $v' <<<"$options") || die "--timeout needs a number"; shift 2 ;;
        --include-body) options=$(jq -c '.includeBody = true' <<<"$options"); shift ;;
        --fail-on-error) fail_on_error=true; shift ;;
        --check) check=true; shift ;;
        --resolve) resolve=true; shift ;;
        --idempotency-key) [[ -n ${2:-} ]] || die "--idempotency-key needs a key"; idempotency_key=$2; shift 2 ;;
        -q|--quiet) quiet=true; shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) input=$1; shift ;;
    esac
done

command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"

auth=()
[[ -n ${FETCHAPI_KEY:-} ]] && auth=(-H "Authorization: Bearer $FETCHAPI_KEY")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# request METHOD PATH [BODY] [HEADER...]: prints the body; retries after Retry-After on 429/503 and, a few times with a
# growing pause, when the connection failed (every request here is safe to repeat); fails on other errors.
request() {
    local method=$1 path=$2 body=${3:-} status wait tries=0 lost=0
    local extra=("${@:4}")
    while true; do
        local args=(-sS -X "$method" -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "${auth[@]}" "${extra[@]}")
        [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
        if ! status=$(curl "${args[@]}" "$base$path"); then
            lost=$((lost + 1))
            [[ $lost -gt 5 ]] && die "cannot reach $base ($method $path)"
            echo "fetch-batch: $method $path: connection failed, retrying in ${lost}s" >&2
            sleep "$lost"
            continue
        fi
        case $status in
            2??) cat "$tmp/body"; return 0 ;;
            429|503)
                tries=$((tries + 1))
                [[ $tries -gt 20 ]] && die "$method $path: still $status after $tries tries"
                wait=$(tr -d '\r' <"$tmp/headers" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }' | tail -1)
                [[ $wait =~ ^[0-9]+$ ]] || wait=1
                echo "fetch-batch: $status, retrying in ${wait}s" >&2
                sleep "$wait" ;;
            *)
                echo "fetch-batch: $method $path answered $status:" >&2
                jq . "$tmp/body" >&2 2>/dev/null || cat "$tmp/body" >&2
                exit 2 ;;
        esac
    done
}

# The request body: URLs as given (trimmed), blank lines and comments skipped.
cat -- "$input" \
    | jq -R -s --argjson options "$options" \
        '{urls: (split("\n") | map(gsub("^\\s+|\\s+$"; "")) | map(select(length > 0 and (startswith("#") | not)))), options: $options}' \
    >"$tmp/request.json"
total=$(jq '.urls | length' "$tmp/request.json")
[[ $total -gt 0 ]] || die "no URLs given"

# --check: one verdict per URL from POST /urls/check; nothing is fetched or stored.
if $check; then
    jq --argjson resolve "$resolve" '{urls, resolve: $resolve}' "$tmp/request.json" >"$tmp/check.json"
    report=$(request POST /urls/check "$tmp/check.json")
    jq -c '.results[]' <<<"$report"
    read -r allowed blocked invalid duplicates < <(jq -r '.counts | [.allowed, .blocked, .invalid, .duplicates] | @tsv' <<<"$report")
    $quiet || echo "allowed $allowed  blocked $blocked  invalid $invalid  duplicates $duplicates" >&2
    if $fail_on_error && [[ $((blocked + invalid)) -gt 0 ]]; then
        exit 1
    fi
    exit 0
fi

# One key per run (or the one given): a retry after a lost answer, or a rerun with --idempotency-key, never creates a
# second batch.
[[ -n $idempotency_key ]] || idempotency_key="fetch-batch-$(cat /proc/sys/kernel/random/uuid 2>/dev/null || date +%s%N)"
$quiet || echo "fetch-batch: Idempotency-Key: $idempotency_key" >&2
id=$(request POST /batches "$tmp/request.json" -H "Idempotency-Key: $idempotency_key" | jq -r .id)

# Poll the summary (no slots: cheap) until the batch ends, drawing a one-line progress bar on stderr.
while true; do
    summary=$(request GET "/batches/$id?results=false")
    read -r status done fetched failed cancelled < <(jq -r '[.status, .counts.total - .counts.pending, .counts.fetched, .counts.failed, .counts.cancelled] | @tsv' <<<"$summary")
    if ! $quiet; then
        width=30 filled=$((done * 30 / total))
        printf '\r[%s%s] %d/%d  fetched %d  failed %d  cancelled %d ' \
            "$(printf '%*s' "$filled" '' | tr ' ' '#')" "$(printf '%*s' $((width - filled)) '' | tr ' ' '.')" \
            "$done" "$total" "$fetched" "$failed" "$cancelled" >&2
    fi
    [[ $status == completed || $status == cancelled ]] && break
    sleep 1
done
$quiet || echo >&2

# Every slot, one JSON line each, in input order: the NDJSON export, one request whatever the batch size.
request GET "/batches/$id/results"

if $fail_on_error && [[ $((failed + cancelled)) -gt 0 ]]; then
    exit 1
fi
