#!/usr/bin/env bash
# One-time setup so that `dvc plots show` renders offline: fetch the vega libraries into build/vega/.
#
# dvc-render 1.0.2 (dvc_render/vega.py, VegaRenderer.SCRIPTS) loads exactly vega@5.20.2,
# vega-lite@5.2.0 and vega-embed@6.18.2 from cdn.jsdelivr.net, so its default page is blank without
# internet. This script `npm pack`s those three versions into the ignored folder build/vega/ and
# extracts each tarball's package/build/<name>.min.js there. Nothing from npm is committed.
#
# Why a committed template that loads ../build/vega/*.min.js (not a generated template with the
# libraries inlined): DVC reads the template named by `plots.html_template` in .dvc/config, and a
# template file that does not exist yet makes every plain `dvc plots show` fail with the misleading
# "HTML template has to contain '{plot_divs}'". A generated template under the ignored build/ would
# break `dvc plots show` on every fresh clone until this script ran. The committed
# .dvc/plots/offline.html always exists, so `dvc plots show` always works; before this script ran
# the page says what to run instead of silently staying blank. The relative paths assume DVC's
# default output folder dvc_plots/ at the repository root (`dvc plots show` without -o).
#
# Idempotent: when build/vega/ already holds the pinned versions it does nothing (and needs no npm).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS="vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2"
DEST=build/vega
STAMP="$DEST/VERSIONS"

have_all() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VERSIONS" ] || return 1
    local spec
    for spec in $VERSIONS; do
        [ -s "$DEST/${spec%@*}.min.js" ] || return 1
    done
}

if have_all; then
    echo "setup_plots: $DEST already holds $VERSIONS (nothing to do)"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "setup_plots: error: npm not found on PATH; install Node.js/npm to fetch $VERSIONS" >&2
    exit 1
fi

mkdir -p "$DEST"
rm -f "$STAMP"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2086  # word splitting of $VERSIONS is intended
if ! npm pack --silent --loglevel=error --pack-destination "$tmp" $VERSIONS >"$tmp/npm.log" 2>&1; then
    echo "setup_plots: error: npm pack $VERSIONS failed: $(tr '\n' ' ' <"$tmp/npm.log" | cut -c1-300)" >&2
    exit 1
fi

for spec in $VERSIONS; do
    name=${spec%@*}
    version=${spec##*@}
    tarball="$tmp/$name-$version.tgz"
    if ! tar -xzf "$tarball" -O "package/build/$name.min.js" >"$tmp/$name.min.js" 2>"$tmp/tar.log" \
        || [ ! -s "$tmp/$name.min.js" ]; then
        echo "setup_plots: error: $tarball has no package/build/$name.min.js" >&2
        exit 1
    fi
    cp "$tarball" "$DEST/"
    mv "$tmp/$name.min.js" "$DEST/$name.min.js"
done
echo "$VERSIONS" >"$STAMP"

echo "setup_plots: fetched $VERSIONS into $DEST/ (vega.min.js, vega-lite.min.js, vega-embed.min.js)"
