#!/usr/bin/env bash
# Long runs that outlive a session: keep each one's newest checkpoint and logs in the repository, so a session on a
# new machine continues them (docs/repro/unfinished/README.md).
#
#   bash docs/repro/unfinished/sync.sh save RUN_DIR...          # replace docs/repro/unfinished/<name>/ by the run's now
#   bash docs/repro/unfinished/sync.sh restore NAME RUN_DIR     # a run directory to --resume, from the kept copy
#   bash docs/repro/unfinished/sync.sh drop NAME                # the run has finished and is archived: remove the copy
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:-}"; shift || true
case "$cmd" in
  save)
    for run in "$@"; do
      name="$(basename "$run")"
      newest="$(ls "$run/checkpoints" | grep -E '^[0-9]+$' | sort -n | while read -r u; do
                  [ -f "$run/checkpoints/$u/manifest.json" ] && echo "$u"; done | tail -n 1)"
      [ -n "$newest" ] || { echo "$run: no complete checkpoint yet" >&2; exit 2; }
      tmp="$here/.$name.tmp"; rm -rf "$tmp"; mkdir -p "$tmp/checkpoints"
      cp "$run/config.json" "$tmp/"
      for log in metrics eval absolute; do
        if [ -f "$run/$log.jsonl" ]; then gzip -c "$run/$log.jsonl" > "$tmp/$log.jsonl.gz"; fi; done
      [ -f "$run/summary.json" ] && cp "$run/summary.json" "$tmp/"
      cp -r "$run/checkpoints/$newest" "$tmp/checkpoints/"
      rm -rf "${here:?}/$name"; mv "$tmp" "$here/$name"
      echo "$name: checkpoint $newest, $(du -sh "$here/$name" | cut -f1)"
    done ;;
  restore)
    name="$1"; dest="$2"
    [ ! -e "$dest" ] || { echo "$dest exists: choose a new run directory" >&2; exit 2; }
    mkdir -p "$dest"; cp -r "$here/$name/." "$dest/"
    for log in metrics eval absolute; do
      if [ -f "$dest/$log.jsonl.gz" ]; then gunzip "$dest/$log.jsonl.gz"; fi; done
    echo "restored $name into $dest; continue with: python -m jbn.train --run-dir $dest --resume" ;;
  drop)
    rm -rf "${here:?}/$1" ;;
  *)
    sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
