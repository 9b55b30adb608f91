/*
 * tether-helper: the few things the tether (Node) cannot do itself.
 *
 *   tether-helper pty  [-u uid] [-g gid] [-G g1,g2] [-s rows,cols] -- file argv0 args...
 *     Runs the command on a new pseudo-terminal as its controlling tty. stdin/stdout of
 *     the helper carry the terminal's bytes; fd 3 is a control socket: the helper writes
 *     "P <pid>\n" once the command is exec'd (or "E <errno>\n" and exits 127/126), and
 *     reads "W <rows> <cols>\n" to resize. Exits as the command did (same code, or killed
 *     by the same signal), so the tether sees the command's own status.
 *   tether-helper exec [-u uid] [-g gid] [-G g1,g2] -- file argv0 args...
 *     Sets credentials including supplementary groups (Node's spawn clears them) and
 *     execs in place: no extra process stays behind.
 *   tether-helper init -- command args...
 *     A PID-1 (or child-subreaper) wrapper: runs the command (the tether) and reaps every
 *     orphan that is re-parented to it. The tether's own children stay the tether's, so
 *     their exit statuses are never taken from it. Exits as the command did.
 *   pty and exec also take [-r root] [-d dir]: chroot to root and chdir to dir (inside it)
 *     before the credentials change, so the command runs in the container's root.
 *
 *   The VM's own chores, each one exec instead of one busybox per step:
 *   tether-helper run -- STEP [';' STEP]...   the steps in order, stopping at the first failure:
 *     disks TIMEOUT_MS UNIT...                waits until a block device sits at each SCSI unit
 *     mount SOURCE TARGET FSTYPE ro|rw DATA   mount(2) (TARGET made if missing; DATA "-": none;
 *                                             FSTYPE "bind": a bind mount of SOURCE; SOURCE
 *                                             "scsi-unit:U": the disk at SCSI unit U)
 *     mkdir PATH                              mkdir -p
 *     write PATH CONTENT                      the file is CONTENT (made 0644, or truncated)
 *     reseed HEX                              credits the bytes to the kernel's pool (RNDADDENTROPY)
 *     settime MS                              CLOCK_REALTIME := MS since the epoch
 *   tether-helper poweroff        sync, then reboot(RB_POWER_OFF).
 *   tether-helper park
 *     Started ahead of time (in the template, before it freezes) with its stdio already the
 *     pipes the command will use: waits for one command on fd 4, its length in bytes on a
 *     line, then that many bytes of NUL-terminated strings: the environment's KEY=VALUE
 *     entries, an empty string, then the arguments of one of the modes above
 *     (`exec -r … -- file argv0 …`, `run -- …`, `poweroff`), and becomes that command in
 *     place: a freshly restored clone then runs it without Node forking itself. End of
 *     file with no command: exits 0.
 *
 * Static, libc only, so the bootstrap image can carry it beside Node.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CONTROL_FD 3

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  if (write(sigchld_pipe[1], "c", 1) < 0) { /* the pipe is full: a wakeup is pending anyway */ }
  errno = saved;
}

static void die(const char *what) {
  fprintf(stderr, "tether-helper: %s: %s\n", what, strerror(errno));
  exit(125);
}

struct creds {
  const char *root, *dir;
  int set_uid, set_gid, set_groups;
  uid_t uid;
  gid_t gid;
  gid_t groups[64];
  int ngroups;
};

static int parse_groups(const char *list, struct creds *c) {
  char *copy = strdup(list), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (c->ngroups >= 64) break;
    c->groups[c->ngroups++] = (gid_t)strtoul(tok, NULL, 10);
  }
  free(copy);
  c->set_groups = 1;
  return 0;
}

/* Groups first, then gid, then uid: once uid is dropped the others are no longer allowed. */
static int apply_creds(const struct creds *c) {
  /* The root first: chroot needs the privileges the credentials are about to drop. */
  if (c->root && (chroot(c->root) < 0 || chdir("/") < 0)) return -1;
  if (c->dir && chdir(c->dir) < 0) return -1;
  if (c->set_groups || c->set_uid) {
    if (setgroups((size_t)c->ngroups, c->groups) < 0) return -1;
  }
  if (c->set_gid && setgid(c->gid) < 0) return -1;
  if (c->set_uid && setuid(c->uid) < 0) return -1;
  return 0;
}

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

/* Mirror a wait status: same exit code, or die of the same signal (without a core file). */
static void exit_like(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    exit(128 + sig); /* a signal whose default is to ignore */
  }
  exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

static int run_pty(const struct creds *c, unsigned short rows, unsigned short cols, char **argv) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) die("posix_openpt");
  char slave_name[128];
  if (ptsname_r(master, slave_name, sizeof slave_name) != 0) die("ptsname");
  struct winsize ws = {rows, cols, 0, 0};
  ioctl(master, TIOCSWINSZ, &ws);

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
  signal(SIGCHLD, on_sigchld);
  signal(SIGPIPE, SIG_IGN);

  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(errpipe[0]);
    int err = 0;
    if (setsid() < 0) err = errno;
    int slave = err ? -1 : open(slave_name, O_RDWR);
    if (!err && slave < 0) err = errno;
    if (!err && ioctl(slave, TIOCSCTTY, 0) < 0) err = errno;
    if (!err && (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)) err = errno;
    if (!err && slave > 2) close(slave);
    close(CONTROL_FD);
    if (!err && apply_creds(c) < 0) err = errno;
    if (!err) {
      reset_signals();
      execv(argv[0], argv + 1);
      err = errno;
    }
    if (write(errpipe[1], &err, sizeof err) < 0) { /* the parent sees EOF and a dead child */ }
    _exit(127);
  }
  close(errpipe[1]);
  int err = 0;
  ssize_t r;
  do r = read(errpipe[0], &err, sizeof err); while (r < 0 && errno == EINTR);
  close(errpipe[0]);
  if (r == sizeof err) {
    dprintf(CONTROL_FD, "E %d\n", err);
    waitpid(pid, NULL, 0);
    return err == ENOENT ? 127 : 126;
  }
  dprintf(CONTROL_FD, "P %d\n", (int)pid);

  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  char in[16384], out[65536], ctl[256];
  size_t in_len = 0, in_off = 0, ctl_len = 0;
  int stdin_open = 1, control_open = 1, master_open = 1, exited = 0, status = 0;

  while (master_open) {
    struct pollfd fds[4];
    int n = 0, i_stdin = -1, i_ctl = -1;
    fds[n++] = (struct pollfd){master, (short)(POLLIN | (in_len > in_off ? POLLOUT : 0)), 0};
    fds[n++] = (struct pollfd){sigchld_pipe[0], POLLIN, 0};
    if (stdin_open && in_len == in_off) {
      i_stdin = n;
      fds[n++] = (struct pollfd){0, POLLIN, 0};
    }
    if (control_open) {
      i_ctl = n;
      fds[n++] = (struct pollfd){CONTROL_FD, POLLIN, 0};
    }
    /* After the command exits, drain what it left on the terminal, then stop. */
    int ready = poll(fds, (nfds_t)n, exited ? 50 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (ready == 0) break;
    if (fds[1].revents) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {}
      if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = 1;
    }
    if (fds[0].revents & POLLIN) {
      ssize_t got = read(master, out, sizeof out);
      if (got > 0) {
        if (write_all(1, out, (size_t)got) < 0) master_open = 0;
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        master_open = 0; /* EIO: every holder of the terminal has closed it */
      }
    } else if (fds[0].revents & (POLLHUP | POLLERR)) {
      master_open = 0;
    }
    if (master_open && (fds[0].revents & POLLOUT) && in_len > in_off) {
      ssize_t w = write(master, in + in_off, in_len - in_off);
      if (w > 0) in_off += (size_t)w;
      if (in_off == in_len) in_off = in_len = 0;
    }
    if (i_stdin >= 0 && fds[i_stdin].revents) {
      ssize_t got = read(0, in, sizeof in);
      if (got > 0) {
        in_len = (size_t)got;
        in_off = 0;
      } else if (got == 0 || errno != EINTR) {
        /* stdin closed: what a terminal's user does for EOF is type ^D (VEOF). */
        struct termios t;
        in[0] = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        in_len = 1;
        in_off = 0;
        stdin_open = 0;
      }
    }
    if (i_ctl >= 0 && fds[i_ctl].revents) {
      ssize_t got = read(CONTROL_FD, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (got <= 0) {
        control_open = 0;
      } else {
        ctl_len += (size_t)got;
        char *nl;
        while ((nl = memchr(ctl, '\n', ctl_len)) != NULL) {
          *nl = 0;
          unsigned r2, c2;
          if (sscanf(ctl, "W %u %u", &r2, &c2) == 2) {
            struct winsize w2 = {(unsigned short)r2, (unsigned short)c2, 0, 0};
            ioctl(master, TIOCSWINSZ, &w2); /* the kernel sends SIGWINCH to the foreground */
          }
          size_t used = (size_t)(nl - ctl) + 1;
          memmove(ctl, nl + 1, ctl_len - used);
          ctl_len -= used;
        }
        if (ctl_len == sizeof ctl - 1) ctl_len = 0; /* an overlong line: drop it */
      }
    }
  }
  if (!exited) waitpid(pid, &status, 0);
  exit_like(status);
  return 1;
}

static int run_exec(const struct creds *c, char **argv) {
  if (apply_creds(c) < 0) die("credentials");
  execv(argv[0], argv + 1);
  int err = errno;
  fprintf(stderr, "exec: \"%s\": %s\n", argv[1], strerror(err));
  return err == ENOENT ? 127 : 126;
}

/* Forwarded to the tether so that it, not this wrapper, decides how to stop. */
static pid_t init_child = -1;
static void forward(int sig) {
  if (init_child > 0) kill(init_child, sig);
}

static int run_init(char **argv) {
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1);
  int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], forward);
  init_child = fork();
  if (init_child < 0) die("fork");
  if (init_child == 0) {
    reset_signals();
    execvp(argv[0], argv);
    fprintf(stderr, "tether-helper init: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  for (;;) {
    int status;
    pid_t p = waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p == init_child) exit_like(status);
    /* anything else was an orphan: reaped, nothing to report */
  }
}

static int mkdir_p(const char *path) {
  char buf[4096];
  if (strlen(path) >= sizeof buf) return -1;
  strcpy(buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static long long monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Disks by SCSI unit. The hypervisor puts unit u of the first SCSI controller at target u
 * (the box's host agent: scsi-id = unit, serial "vch-unit-<u>"; ESXi's pvscsi does the same
 * with targets), and there is no udev in the guest: so /sys/block is read directly, the
 * serial (VPD page 0x80) preferred, the target of the disk's h:c:t:l otherwise. Done here
 * rather than in Node: in a freshly restored clone under TCG, Node's sysfs reads took
 * ~0.3 s, these take a few milliseconds.
 */
#define MAX_UNITS 64
#define SCSI_UNIT_PREFIX "scsi-unit:"
static char unit_device[MAX_UNITS][sizeof "/dev/" + NAME_MAX];

/* Digits only (no sign, no space), below `limit`: the value, else -1; `*rest` after them. */
static long parse_digits(const char *text, long limit, const char **rest) {
  if (*text < '0' || *text > '9') return -1;
  char *end;
  unsigned long v = strtoul(text, &end, 10);
  if (rest) *rest = end;
  else if (*end) return -1;
  return v < (unsigned long)limit ? (long)v : -1;
}

/* A serial "vch-unit-<unit>" or "vch-unit-<bus>-<unit>" (bus 16 units on): the unit, else -1. */
static int unit_of_serial(const char *serial) {
  const char *prefix = "vch-unit-", *rest;
  if (strncmp(serial, prefix, strlen(prefix)) != 0) return -1;
  long first = parse_digits(serial + strlen(prefix), MAX_UNITS, &rest);
  if (first < 0) return -1;
  if (*rest == 0) return (int)first;
  if (*rest != '-') return -1;
  long unit = parse_digits(rest + 1, 16, NULL);
  return unit < 0 || first * 16 + unit >= MAX_UNITS ? -1 : (int)(first * 16 + unit);
}

/* The SCSI unit of block device `name` (sda, …), or -1 for a disk that is not one of ours. */
static int unit_of_block(const char *name) {
  char path[300], buf[512], tail;
  unsigned h, c, t, l;
  snprintf(path, sizeof path, "/sys/block/%s/device/vpd_pg80", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 4) {
      /* A 4-byte header, then the serial, space padded. */
      char *serial = buf + 4;
      size_t len = (size_t)n - 4;
      while (len > 0 && strchr(" \t\r\n", serial[len - 1]) != NULL) len--;
      serial[len] = 0;
      while (*serial == ' ' || *serial == '\t') serial++;
      int unit = unit_of_serial(serial);
      if (unit >= 0) return unit;
    }
  }
  snprintf(path, sizeof path, "/sys/block/%s/device", name);
  ssize_t n = readlink(path, buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char *base = strrchr(buf, '/');
  base = base ? base + 1 : buf;
  if (sscanf(base, "%u:%u:%u:%u%c", &h, &c, &t, &l, &tail) == 4) return (int)t;
  return -1;
}

static int known_block(const char *name) {
  for (int u = 0; u < MAX_UNITS; u++)
    if (unit_device[u][0] && strcmp(unit_device[u] + strlen("/dev/"), name) == 0) return 1;
  return 0;
}

/* Records the device of every SCSI disk of ours now present (the first one at a unit wins). */
static void scan_units(void) {
  DIR *dir = opendir("/sys/block");
  if (!dir) return;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strncmp(e->d_name, "sd", 2) != 0 || known_block(e->d_name)) continue;
    int unit = unit_of_block(e->d_name);
    if (unit >= 0 && unit < MAX_UNITS && !unit_device[unit][0])
      snprintf(unit_device[unit], sizeof unit_device[unit], "/dev/%s", e->d_name);
  }
  closedir(dir);
}

static int parse_unit(const char *text) {
  return (int)parse_digits(text, MAX_UNITS, NULL);
}

/* Hot-added disks show up a moment (~0.2 s) after the hypervisor adds them, hence the wait. */
static int step_disks(char **a, int count) {
  long timeout_ms = parse_digits(a[0], 24L * 3600 * 1000, NULL);
  if (timeout_ms < 0) {
    fprintf(stderr, "disks: bad timeout %s\n", a[0]);
    return 125;
  }
  long long deadline = monotonic_us() + timeout_ms * 1000LL;
  for (int i = 1; i < count; i++) {
    if (parse_unit(a[i]) < 0) {
      fprintf(stderr, "disks: bad SCSI unit %s\n", a[i]);
      return 125;
    }
  }
  for (;;) {
    scan_units();
    char missing[256] = "";
    int nmissing = 0;
    for (int i = 1; i < count; i++) {
      if (unit_device[parse_unit(a[i])][0]) continue;
      size_t used = strlen(missing);
      snprintf(missing + used, sizeof missing - used, "%s%s", nmissing++ ? ", " : "", a[i]);
    }
    if (nmissing == 0) return 0;
    if (monotonic_us() > deadline) {
      fprintf(stderr, "disk%s on SCSI unit %s did not appear\n", nmissing > 1 ? "s" : "", missing);
      return 1;
    }
    usleep(5000);
  }
}

/*
 * SOURCE, or the device at its SCSI unit for "scsi-unit:U"; NULL (said on stderr, with the
 * exit code in *rc: 125 for a bad unit, 1 for no disk there) if none.
 */
static const char *mount_source(const char *source, int *rc) {
  if (strncmp(source, SCSI_UNIT_PREFIX, strlen(SCSI_UNIT_PREFIX)) != 0) return source;
  const char *text = source + strlen(SCSI_UNIT_PREFIX);
  int unit = parse_unit(text);
  if (unit < 0) {
    fprintf(stderr, "mount: bad SCSI unit %s\n", text);
    *rc = 125;
    return NULL;
  }
  if (!unit_device[unit][0]) scan_units();
  if (!unit_device[unit][0]) {
    fprintf(stderr, "no disk on SCSI unit %s\n", text);
    *rc = 1;
    return NULL;
  }
  return unit_device[unit];
}

/* Mode 0644 whatever the umask, as the files Node wrote before had in the guest. */
static int step_write(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int ok = fd >= 0 && write_all(fd, content, strlen(content)) == 0 && (fchmod(fd, 0644) == 0 || errno == EPERM);
  if (!ok) {
    fprintf(stderr, "write %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd);
    return 1;
  }
  if (close(fd) < 0) {
    fprintf(stderr, "write %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

static int step_mount(char **a) {
  int rc = 0;
  const char *source = mount_source(a[0], &rc);
  if (!source) return rc;
  unsigned long flags = strcmp(a[3], "ro") == 0 ? MS_RDONLY : 0;
  int bind = strcmp(a[2], "bind") == 0;
  if (bind) flags |= MS_BIND; /* (read-only binds would need a remount: not needed yet) */
  if (mkdir_p(a[1]) < 0) {
    fprintf(stderr, "mkdir %s: %s\n", a[1], strerror(errno));
    return 1;
  }
  if (mount(source, a[1], bind ? NULL : a[2], flags, strcmp(a[4], "-") == 0 ? NULL : a[4]) < 0) {
    fprintf(stderr, "mount %s on %s (%s): %s\n", source, a[1], a[2], strerror(errno));
    return 1;
  }
  return 0;
}

static int run_reseed(const char *hex);
static int run_settime(const char *ms_text);

/*
 * Words per step, the op included; 0 for `disks`, whose list of units runs to the next ";".
 * Steps with a fixed number of words are read by that number, so a value that is ";" (a
 * file's content, say) is a value, not the end of the step.
 */
static int step_words(const char *op) {
  static const struct {
    const char *op;
    int words;
  } table[] = {{"mount", 6}, {"mkdir", 2}, {"write", 3}, {"reseed", 2}, {"settime", 2}, {"disks", 0}};
  for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
    if (strcmp(op, table[k].op) == 0) return table[k].words;
  return -1;
}

/*
 * The VM's setup as one exec: in a freshly restored clone under TCG every exec is costly
 * (nothing is translated yet), so the steps are batched rather than one helper each.
 * Each step's time goes to stdout (`op target ms`, one line each): the console shows them.
 */
static int run_steps(char **argv, int n) {
  int i = 0;
  while (i < n) {
    const char *op = argv[i];
    int words = step_words(op), end = i;
    if (words > 0) end = i + words;
    else
      while (end < n && strcmp(argv[end], ";") != 0) end++;
    /* Unknown, short, running on past its words, or `disks` without a unit. */
    if (words < 0 || end > n || (end < n && strcmp(argv[end], ";") != 0) || end - i < 2) {
      fprintf(stderr, "bad step: %s\n", op);
      return 125;
    }
    int count = end - i, rc;
    long long t0 = monotonic_us();
    if (strcmp(op, "mount") == 0) rc = step_mount(argv + i + 1);
    else if (strcmp(op, "mkdir") == 0) {
      rc = mkdir_p(argv[i + 1]) < 0 ? 1 : 0;
      if (rc) fprintf(stderr, "mkdir %s: %s\n", argv[i + 1], strerror(errno));
    } else if (strcmp(op, "disks") == 0) rc = step_disks(argv + i + 1, count - 1);
    else if (strcmp(op, "write") == 0) rc = step_write(argv[i + 1], argv[i + 2]);
    else if (strcmp(op, "reseed") == 0) rc = run_reseed(argv[i + 1]);
    else rc = run_settime(argv[i + 1]);
    if (rc != 0) return rc;
    /* mount's target is its third word, mkdir's and write's their second, disks' its units. */
    char units[128] = "";
    for (int k = i + 2; strcmp(op, "disks") == 0 && k < end; k++)
      snprintf(units + strlen(units), sizeof units - strlen(units), "%s%s", k > i + 2 ? "," : "", argv[k]);
    const char *what = strcmp(op, "mount") == 0                                  ? argv[i + 2]
                       : strcmp(op, "mkdir") == 0 || strcmp(op, "write") == 0 ? argv[i + 1]
                                                                                : units;
    printf("%s %s %.1f\n", op, what, (double)(monotonic_us() - t0) / 1000.0);
    i = end + 1;
  }
  fflush(stdout);
  return 0;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A write to /dev/urandom mixes bytes in without crediting them; the ioctl credits them too. */
static int run_reseed(const char *hex) {
  size_t len = strlen(hex) / 2;
  if (len == 0 || len > 512) return 125;
  struct {
    struct rand_pool_info info;
    unsigned char buf[512];
  } req;
  for (size_t i = 0; i < len; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return 125;
    req.buf[i] = (unsigned char)(hi << 4 | lo);
  }
  req.info.entropy_count = (int)(len * 8);
  req.info.buf_size = (int)len;
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("/dev/urandom");
  if (ioctl(fd, RNDADDENTROPY, &req.info) < 0 && write(fd, req.buf, len) < 0) die("reseed");
  close(fd);
  return 0;
}

static int run_settime(const char *ms_text) {
  long long ms = strtoll(ms_text, NULL, 10);
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  if (clock_settime(CLOCK_REALTIME, &ts) < 0) die("clock_settime");
  return 0;
}

static int run_poweroff(void) {
  sync();
  reboot(RB_POWER_OFF);
  die("reboot");
  return 1;
}

#define PARK_FD 4

/* Reads exactly n bytes; 0 at end of file before the first byte, -1 on a short read. */
static int read_exactly(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("park: read");
    if (r == 0) return got == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

/*
 * The command is read to its announced length, not to end of file: Node closes its end of
 * the pipe only when its event loop next turns, ~0.1 s later in a freshly restored clone
 * busy with its own start.
 */
static int run_park(void) {
  char header[24];
  size_t hlen = 0;
  for (;;) {
    int r = read_exactly(PARK_FD, header + hlen, 1);
    if (r == 0 && hlen == 0) exit(0);
    if (r <= 0 || hlen == sizeof header - 1) {
      fprintf(stderr, "tether-helper park: no length line\n");
      exit(125);
    }
    if (header[hlen] == '\n') break;
    hlen++;
  }
  header[hlen] = 0;
  long parsed = parse_digits(header, (1L << 24) + 1, NULL);
  if (parsed <= 0) {
    fprintf(stderr, "tether-helper park: bad length %s\n", header);
    exit(125);
  }
  size_t len = (size_t)parsed;
  char *buf = malloc(len);
  if (!buf) die("park");
  if (read_exactly(PARK_FD, buf, len) <= 0) {
    fprintf(stderr, "tether-helper park: the command ended early\n");
    exit(125);
  }
  close(PARK_FD);
  if (buf[len - 1] != 0) {
    fprintf(stderr, "tether-helper park: a command must end with NUL\n");
    exit(125);
  }
  size_t count = 0;
  for (size_t i = 0; i < len; i++) count += buf[i] == 0;
  char **strs = calloc(count + 2, sizeof *strs);
  if (!strs) die("park");
  size_t k = 0;
  for (size_t i = 0; i < len; i += strlen(buf + i) + 1) strs[k++] = buf + i;
  size_t sep = 0;
  while (sep < count && strs[sep][0] != 0) sep++;
  if (sep == count) {
    fprintf(stderr, "tether-helper park: no arguments\n");
    exit(125);
  }
  clearenv();
  for (size_t i = 0; i < sep; i++) putenv(strs[i]);
  /* argv[0] is this program's name, as the command line would have it. */
  char **argv = strs + sep;
  argv[0] = "tether-helper";
  int argc = (int)(count - sep);
  argv[argc] = NULL;
  int main(int, char **);
  return main(argc, argv);
}

static void usage(void) {
  fprintf(stderr, "usage: tether-helper pty|exec [-u uid] [-g gid] [-G gids] [-s rows,cols] -- file argv0 args...\n"
                  "       tether-helper init -- command args...\n");
  exit(125);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *mode = argv[1];
  if (strcmp(mode, "poweroff") == 0) return run_poweroff();
  if (strcmp(mode, "park") == 0) return run_park();
  struct creds c = {0};
  unsigned rows = 24, cols = 80;
  int i = 2;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "-u") == 0) c.set_uid = 1, c.uid = (uid_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "-g") == 0) c.set_gid = 1, c.gid = (gid_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "-G") == 0) parse_groups(argv[++i], &c);
    else if (strcmp(argv[i], "-r") == 0) c.root = argv[++i];
    else if (strcmp(argv[i], "-d") == 0) c.dir = argv[++i];
    else if (strcmp(argv[i], "-s") == 0) {
      if (sscanf(argv[++i], "%u,%u", &rows, &cols) != 2) usage();
    } else usage();
  }
  if (i >= argc) usage();
  char **rest = argv + i + 1;
  int nrest = argc - i - 1;
  if (strcmp(mode, "init") == 0) {
    if (nrest < 1) usage();
    return run_init(rest);
  }
  if (strcmp(mode, "run") == 0) return run_steps(rest, nrest);
  if (nrest < 2) usage(); /* file, then argv[0] */
  if (strcmp(mode, "pty") == 0) return run_pty(&c, (unsigned short)rows, (unsigned short)cols, rest);
  if (strcmp(mode, "exec") == 0) return run_exec(&c, rest);
  usage();
  return 125;
}
