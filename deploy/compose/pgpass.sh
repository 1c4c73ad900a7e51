#!/bin/sh
# pgpass.sh SECRET OUT HOST PORT USER
#
# docker-compose.yml's exporter: write OUT, a password file in libpq's format (which asyncpg,
# the exporter's driver, reads through PGPASSFILE too) holding the password of the file SECRET
# (a Docker secret, /run/secrets/...) for USER at HOST:PORT, any database. So the database URL
# carries no password, and the password is never in the environment or on a command line.
# Mode 0600: libpq and asyncpg ignore a password file others can read. A password holding ':'
# or '\' is refused: the format escapes them, but asyncpg (0.30) reads the escapes as part of
# the password, so the login would fail later with a less clear error (`openssl rand -base64`
# never writes either). tests/test_compose.py runs it against a real PostgreSQL.
set -eu
if [ "$#" -ne 5 ]; then
    echo "usage: pgpass.sh SECRET OUT HOST PORT USER" >&2
    exit 2
fi
secret=$1 out=$2 host=$3 port=$4 user=$5
if [ ! -r "$secret" ]; then
    echo "pgpass.sh: cannot read the secret file $secret (docker-compose.yml's header says how to create it)" >&2
    exit 1
fi
password=$(head -n 1 "$secret")
if [ -z "$password" ]; then
    echo "pgpass.sh: the secret file $secret is empty" >&2
    exit 1
fi
case $password in
    *:* | *\\*)
        printf '%s\n' "pgpass.sh: the password in $secret holds ':' or '\\', which the exporter's driver cannot read from a password file: choose another (openssl rand -base64 18)" >&2
        exit 1
        ;;
esac
umask 077
printf '%s:%s:*:%s:%s\n' "$host" "$port" "$user" "$password" > "$out"
