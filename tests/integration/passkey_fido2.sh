#!/bin/sh
# passkey_fido2.sh: the harness's virtual passkey authenticator judged by a
# relying party that is not konform, python3-fido2's Fido2Server (Debian's
# python3, where the deps script installs python3-fido2). The cases and what
# the library does and does not check are in passkey_fido2.py, which prints
# the TAP; the authenticator is build/tests/pk-demo (tests/integration/pk_demo.c).
set -u
bin=${KONFORM_BIN:-build/bin}
demo="$bin/../tests/pk-demo"
if [ ! -x "$demo" ]; then
  echo "TAP version 14"
  echo "Bail out! $demo is not built (make integration builds it)"
  exit 1
fi
exec /usr/bin/python3 tests/integration/passkey_fido2.py "$demo"
