# mysql.sh: a private MariaDB (always --no-defaults), user wirekeeper for
# both TCP (@127.0.0.1) and the socket (@localhost), database wirekeeper_test.
# shellcheck shell=bash

MYSQL_PORT=${WK_MYSQL_PORT:-13306}

start_mysql() {
	local D=$RUN/mysql
	mkdir -p "$D"
	mariadb-install-db --no-defaults --user=root --datadir="$D/data" \
		--auth-root-authentication-method=normal --skip-test-db --tmpdir="$D" >"$D/install.log" 2>&1
	setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$D/data" \
		--socket="$D/mysqld.sock" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
		--pid-file="$D/mysqld.pid" --log-error="$D/error.log" --skip-name-resolve \
		--innodb-buffer-pool-size=64M --innodb-buffer-pool-dump-at-shutdown=OFF \
		--innodb-buffer-pool-load-at-startup=OFF --skip-log-bin --tmpdir="$D" \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$D/mariadbd.pid"
	wait_until "$START_TIMEOUT" mariadb-admin --no-defaults -S "$D/mysqld.sock" -uroot ping
	mariadb --no-defaults -S "$D/mysqld.sock" -uroot <<-'EOT'
		CREATE DATABASE wirekeeper_test;
		CREATE USER 'wirekeeper'@'127.0.0.1' IDENTIFIED BY 'wirekeeper';
		CREATE USER 'wirekeeper'@'localhost' IDENTIFIED BY 'wirekeeper';
		GRANT ALL ON *.* TO 'wirekeeper'@'127.0.0.1' WITH GRANT OPTION;
		GRANT ALL ON *.* TO 'wirekeeper'@'localhost' WITH GRANT OPTION;
	EOT
	echo "export WIREKEEPER_TEST_MYSQL_DSN='wirekeeper:wirekeeper@tcp(127.0.0.1:$MYSQL_PORT)/wirekeeper_test'" \
		>"$RUN/env.d/mysql"
}

stop_mysql() {
	local D=$RUN/mysql pid
	pid=$(pid_of "$D/mariadbd.pid" mariadbd) || return 0
	timeout 30 mariadb-admin --no-defaults -S "$D/mysqld.sock" -uroot shutdown || true
	end_pid "$pid" 20
}

logs_mysql() { echo "$RUN/mysql/install.log" "$RUN/mysql/error.log"; }
ports_mysql() { echo "WK_MYSQL_PORT=$MYSQL_PORT"; }
