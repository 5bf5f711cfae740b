#!/usr/bin/env bash
# A throwaway PostgreSQL server in a directory of its own, for the PostgreSQL store's tests (run
# as root). It uses the binaries of Debian's postgresql package but never the packaged cluster
# (no pg_ctlcluster, nothing in /etc/postgresql): its data, socket, log, password and URL all live
# in DIR, and it listens on 127.0.0.1 only. fsync is off: a crash may lose it, which is fine here.
#
#   scripts/postgres.sh start DIR [PORT]   initialise DIR if needed, start the server (default port
#                                          55432), make role and database `drove`, print the URL
#   scripts/postgres.sh stop DIR [--remove]   stop the server; --remove also deletes DIR
#   scripts/postgres.sh url DIR            print the URL (postgres://drove:PASSWORD@127.0.0.1:PORT/drove)
set -euo pipefail

usage() {
    echo "usage: $0 start DIR [PORT] | stop DIR [--remove] | url DIR" >&2
    exit 2
}
fail() {
    echo "postgres.sh: $*" >&2
    exit 1
}

(($# >= 2)) || usage
command=$1
[[ -n $2 ]] || usage
dir=$(realpath -m -- "$2")
[[ $dir != / && $dir != *[[:space:]]* ]] || fail "DIR must not be / nor contain whitespace: $dir"
data=$dir/data

# The server's binaries: the highest version installed under /usr/lib/postgresql.
find_bin() {
    local candidates
    candidates=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V)
    bin=$(tail -n 1 <<<"$candidates")
    [[ -n $bin && -x $bin/pg_ctl && -x $bin/initdb && -x $bin/psql ]] ||
        fail "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install Debian's postgresql package (scripts/install-deps.sh)"
}

as_postgres() { runuser -u postgres -- "$@"; }

need_root_and_user() {
    [[ $(id -u) -eq 0 ]] || fail "run as root (the server runs as the postgres user, via runuser)"
    id postgres >/dev/null 2>&1 || fail "there is no postgres user; install Debian's postgresql package (scripts/install-deps.sh)"
}

# Whether the server in DIR is running (pg_ctl status: 0 running, 3 not running, 4 no data directory).
running() {
    [[ -f $data/PG_VERSION ]] || return 1
    as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# The server runs as postgres, which may not be allowed into the caller's working directory.
cd /

case $command in
start)
    (($# <= 3)) || usage
    port=${3:-55432}
    [[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || fail "PORT must be a number from 1 to 65535: $port"
    need_root_and_user
    find_bin

    if running; then
        if [[ -s $dir/url ]]; then
            cat "$dir/url"
            exit 0
        fi
        # Running but never finished setting up (interrupted start): finish on the port it listens on.
        port=$(sed -n 4p "$data/postmaster.pid")
    else
        # Refuse to take over a directory that is not ours (chown and chmod 0700 below).
        if [[ -e $dir ]]; then
            [[ -d $dir ]] || fail "$dir exists and is not a directory"
            if [[ -n $(ls -A "$dir") && ! -d $data && ! -f $dir/password ]]; then
                fail "$dir is neither empty nor a PostgreSQL directory made by this script; pick another DIR"
            fi
        fi
        mkdir -p "$(dirname "$dir")"
        install -d -m 0700 -o postgres -g postgres "$dir"
        as_postgres test -w "$dir" -a -x "$dir" ||
            fail "the postgres user cannot reach $dir (a parent directory is closed to it); pick another DIR"
        # The server's socket, DIR/.s.PGSQL.PORT, must fit a Unix socket path (107 bytes).
        socket=$dir/.s.PGSQL.$port
        ((${#socket} <= 107)) || fail "DIR is too long for the server's Unix socket path $socket; pick a shorter DIR"

        if [[ ! -f $data/PG_VERSION ]]; then
            [[ ! -e $data ]] || fail "$data exists but is not an initialised PostgreSQL data directory; remove it"
            as_postgres "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
                --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
                { cat "$dir/initdb.log" >&2; fail "initdb failed (log above, in $dir/initdb.log)"; }
        fi
        version=$(basename "$(dirname "$bin")")
        [[ $(cat "$data/PG_VERSION") == "$version" ]] ||
            fail "$data is a PostgreSQL $(cat "$data/PG_VERSION") cluster, but the server installed is $version; run: $0 stop $dir --remove"

        if ! as_postgres "$bin/pg_ctl" -D "$data" -l "$dir/log" \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
            -w start >/dev/null; then
            tail -n 20 "$dir/log" >&2 || true
            fail "the server did not start (log above, in $dir/log)"
        fi
    fi

    # The drove role's password: generated once, kept across restarts (hex, so the URL needs no escaping).
    if [[ ! -s $dir/password ]]; then
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password")
    fi
    chmod 0600 "$dir/password"
    password=$(cat "$dir/password")

    # Role and database `drove`, made if missing; the password is (re)set to DIR/password. The SQL
    # goes in on stdin so the password never shows in a process list.
    as_postgres "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL ||
SELECT 'CREATE ROLE drove' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'drove')\gexec
ALTER ROLE drove WITH LOGIN CREATEDB PASSWORD '$password';
SELECT 'CREATE DATABASE drove OWNER drove' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'drove')\gexec
SQL
        fail "could not create role and database drove (the server is running; stop it with: $0 stop $dir)"

    (umask 077 && echo "postgres://drove:$password@127.0.0.1:$port/drove" >"$dir/url.new")
    mv -f "$dir/url.new" "$dir/url"
    cat "$dir/url"
    ;;
stop)
    (($# == 2)) || { (($# == 3)) && [[ $3 == --remove ]]; } || usage
    if [[ -f $data/PG_VERSION ]]; then
        need_root_and_user
        find_bin
        if running; then
            as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || fail "could not stop the server in $data (see $dir/log)"
            echo "postgres.sh: stopped the server in $dir" >&2
        fi
    fi
    if (($# == 3)); then
        if [[ -e $dir ]]; then
            # Delete only a directory this script made.
            [[ -d $data || -f $dir/password || -z $(ls -A "$dir") ]] ||
                fail "$dir does not look like a directory made by this script; not removing it"
            rm -rf -- "$dir"
            echo "postgres.sh: removed $dir" >&2
        fi
    fi
    ;;
url)
    (($# == 2)) || usage
    [[ -s $dir/url ]] || fail "no URL in $dir/url; start the server first: $0 start $dir"
    cat "$dir/url"
    ;;
*)
    usage
    ;;
esac
