#!/bin/sh
# core.pause. The local-shell-script runner passes each parameter as PARAM_<NAME>; the schema has
# already checked their types, the checks below keep the script safe when run by hand.
max=${PARAM_MAX_PAUSE:-5}
case $max in
  '' | *[!0-9]*)
    printf 'pause: max_pause must be a whole number of seconds, not %s\n' "$max" >&2
    exit 2
    ;;
esac
delay=$max
if [ "${PARAM_RANDOM:-false}" = true ] && [ "$max" -gt 0 ]; then
  r=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
  delay=$((r % max + 1))
fi
sleep "$delay" || exit 1
echo "$delay"
