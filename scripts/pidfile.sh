# pidfile.sh — sourced by cluster-start.sh and cluster-stop.sh.
#
# alive PIDFILE NAME: the pid file names a running NAME. A pid file can outlive its daemon (a
# machine restarted with /var/spool kept, a chroot carried over), and its pid then belongs to
# another process: /proc's comm tells them apart, where `kill -0` would not.
alive() { [ -s "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$2" ]; }
