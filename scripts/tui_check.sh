#!/usr/bin/env bash
# tui_check.sh: look at the real workstation in a real terminal (tmux), as a person would.
#
#   scripts/tui_check.sh [-s 160x48] [-k] [-- EXTRA hip3term run ARGS...]
#
# Starts `hip3term run --market COIN` (the embedded simulator, paper money) in a detached
# tmux session of the given size, inside a scratch directory (its state/ and recordings/
# go there), and checks what the screen shows:
#   1. the status bar (SIM badge, latch ACTIVE, READY) and a book of at least 10 levels;
#   2. a second capture 2 s later: the book moved;
#   3. `h`: the red banner says TRIPPED and how to resume;
#   4. `r`, then `y`: the resume modal showed the reason, and the latch is ACTIVE again;
#   5. `q`, then `y`: the program exits with status 0.
# Each screen is printed. Exit status 0 when every check passed, 1 otherwise, 2 when tmux
# is missing (apt-get install -y tmux). -k keeps the scratch directory.
set -euo pipefail

size=160x48; keep=""; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -s) size=$2; shift 2;;
    -k) keep=1; shift;;
    --) shift; extra=("$@"); break;;
    *) echo "usage: $0 [-s COLSxROWS] [-k] [-- hip3term run args]" >&2; exit 2;;
  esac
done
command -v tmux >/dev/null || { echo "tui_check: tmux is not installed (apt-get install -y tmux)" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
bin="$repo/.venv/bin/hip3term"
[ -x "$bin" ] || { echo "tui_check: $bin not found: run make first" >&2; exit 2; }
work=$(mktemp -d -t hip3term-tui-check.XXXXXX)
name="tuicheck-$$"
cols=${size%x*}; rows=${size#*x}
failures=0

cleanup() {
  tmux kill-session -t "$name" 2>/dev/null || true
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "scratch directory kept: $work"; fi
}
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$name"; }
show() { echo "----- screen: $1 -----"; screen; }
ok() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; failures=$((failures + 1)); }
# wait_for SECONDS PATTERN: poll the screen until an extended regex matches
wait_for() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    if screen | grep -Eq -- "$2"; then return 0; fi
    sleep 0.2
  done
  return 1
}
# the ladder's price rows: a price and a size bar in the left pane
book_rows() { screen | cut -c1-56 | grep -E '[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ +[0-9]+ [█▉▊▋▌▍▎▏]' || true; }

cmd=$(printf '%q ' "$bin" run --market COIN "${extra[@]}")
tmux new-session -d -s "$name" -x "$cols" -y "$rows" -c "$work" \
  "TERM=xterm-256color $cmd; echo '[exited with status '\$?']'; sleep 600"

# 1. status bar and book
if wait_for 30 'READY ●data ●orders ●fills ●positions' && [ "$(book_rows | wc -l)" -ge 10 ] \
   || { sleep 2; [ "$(book_rows | wc -l)" -ge 10 ]; }; then
  ok "status bar READY and a book of $(book_rows | wc -l) levels"
else
  bad "no READY status bar or fewer than 10 book levels within 30 s"
fi
screen | grep -q ' SIM ' && ok "SIM badge" || bad "no SIM badge"
screen | grep -q 'latch ACTIVE' && ok "latch ACTIVE" || bad "latch not ACTIVE at start"
show "start"
first=$(book_rows)

# 2. the book moves
sleep 2
second=$(book_rows)
show "2 s later"
if [ -n "$second" ] && [ "$first" != "$second" ]; then ok "the book moved"; else bad "the book did not change in 2 s"; fi

# 3. halt
tmux send-keys -t "$name" h
if wait_for 5 '■ (TRIPPED|HALTED) — press r to resume'; then ok "h: red banner TRIPPED with how to resume"; else bad "h: no TRIPPED/HALTED banner"; fi
screen | grep -q 'latch TRIPPED' && ok "status bar says latch TRIPPED" || bad "status bar does not say TRIPPED"
show "after h"

# 4. resume with confirmation
tmux send-keys -t "$name" r
if wait_for 5 'Resume trading\? The latch is TRIPPED'; then ok "r: resume modal"; else bad "r: no resume modal"; fi
screen | grep -q 'halt key' && ok "the modal shows the trip reason" || bad "the modal does not show the reason"
show "resume modal"
tmux send-keys -t "$name" y
if wait_for 5 'latch ACTIVE'; then ok "y: latch ACTIVE again"; else bad "y: latch not ACTIVE after resume"; fi
screen | grep -q '■ TRIPPED' && bad "the banner is still shown" || ok "the banner is gone"

# 5. quit
tmux send-keys -t "$name" q
if wait_for 5 'Quit hip3term\?'; then ok "q: quit confirmation"; else bad "q: no quit confirmation"; fi
tmux send-keys -t "$name" y
if wait_for 30 '\[exited with status 0\]'; then ok "y: exited with status 0"; else bad "did not exit with status 0 within 30 s"; fi
show "after quit"

if [ "$failures" -eq 0 ]; then echo "tui_check: all checks passed"; exit 0; fi
echo "tui_check: $failures check(s) failed"; exit 1
