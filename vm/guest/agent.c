/*
 * bollard-agent: PID 1 of a Bollard VM pod. Takes the shim's calls on one virtio-serial port and runs the pod's
 * containers with crun; streams their stdio back and reports their exits on the same port.
 *
 * Framing (both directions; see vm/README.md): a 9-byte header, then the payload.
 *   u32 length (big-endian, payload bytes, at most 1 MiB) | u8 type | u32 id (big-endian)
 * Types: 1 REQUEST (host->guest, id = request id, payload = NUL-terminated fields: op, args...)
 *        2 RESPONSE (guest->host, id = request id, payload = "ok" or "error" then fields, NUL-terminated)
 *        3 STDIN  (host->guest, id = process handle; empty payload = close stdin)
 *        4 STDOUT, 5 STDERR (guest->host, id = process handle; empty payload = end of stream)
 *        6 EXIT   (guest->host, id = process handle, payload = exit status in decimal, NUL-terminated)
 *        7 READY  (guest->host once, id 0, payload = kernel release, init uptime, agent uptime)
 *        8 OOM    (guest->host, id = the container's init handle, payload = its cgroup's oom_kill count, decimal)
 *        (9, 10: reserved)
 *        11 PF_DATA  (both ways, id = forward handle; bytes of a forwarded TCP connection; empty = that side's EOF)
 *        12 PF_ACK   (both ways, id = forward handle, payload = bytes the receiver consumed, decimal)
 *        13 PF_CLOSE (both ways, id = forward handle; the connection is gone; payload = the reason, may be empty)
 * A process handle is a number the shim picks for each container init and exec process.
 * A terminal process (create/exec with tty 1) gets a pty from crun (--console-socket: crun sends the master over a
 * unix socket we listen on); its output is the master's, sent as STDOUT, and STDIN goes into the master.
 *
 * Single-threaded: one poll loop over the port, a signalfd for SIGCHLD and the processes' pipes. crun runs to
 * completion inside a request (create/start/exec/kill/delete are quick); a container's own processes are
 * reparented to us (PID 1) and reaped in the loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/reboot.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { F_REQUEST = 1, F_RESPONSE = 2, F_STDIN = 3, F_STDOUT = 4, F_STDERR = 5, F_EXIT = 6, F_READY = 7, F_OOM = 8,
       F_PF_DATA = 11, F_PF_ACK = 12, F_PF_CLOSE = 13 };
enum { HEADER = 9, MAX_PAYLOAD = 1 << 20, MAX_FIELDS = 16, MAX_PROCS = 256 };
/* Port-forward: at most PF_WINDOW bytes in flight each way (the shim uses the same window), read in PF_CHUNKs. */
enum { MAX_FWDS = 64, PF_WINDOW = 256 * 1024, PF_CHUNK = 64 * 1024 };

#define CRUN "/usr/bin/crun"
#define STATE_DIR "/run/bollard"

struct proc {
    int used;
    uint32_t handle;
    char id[256];       /* container id */
    int is_init;
    char process_file[512]; /* exec: the OCI process JSON; empty for the init process */
    pid_t pid;
    int in_fd, out_fd, err_fd;
    int want_stdin;
    int exited;
    char *pending_in;   /* stdin bytes not yet written (the pipe was full) */
    size_t pending_len;
    int close_in;       /* close stdin once pending_in is written */
    int tty;            /* a terminal process: in_fd/out_fd are dups of pty_fd, the pty's master */
    int pty_fd;
    unsigned short rows, cols; /* the size asked for before the pty existed (0: none) */
    char last_in;       /* the last byte written to a terminal's input (a partial line needs two VEOFs) */
    int oom_wd;         /* init: inotify watch on the cgroup's memory.events (0: none) */
    unsigned long oom_seen; /* init: the oom_kill count last reported */
};

/* One forwarded TCP connection to a port in the guest (CRI PortForward through the shim). */
struct fwd {
    int used;
    uint32_t handle;
    int fd;
    char *pending;      /* bytes from the host not yet written to the socket */
    size_t pending_len;
    int host_eof;       /* the host half-closed: shut the socket's write side once pending is written */
    int write_shut;
    int guest_eof;      /* the socket's EOF was sent to the host */
    size_t unacked;     /* bytes sent to the host that it has not acknowledged yet */
};

static int port = -1;
static int inotify_fd = -1;
static struct proc procs[MAX_PROCS];
static struct fwd fwds[MAX_FWDS];

static void logf_(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bollard-agent: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double uptime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { usleep(1000); continue; }
            logf_("write to the host failed: %s", strerror(errno));
            return;
        }
        p += n;
        len -= (size_t) n;
    }
}

static void send_frame(int type, uint32_t id, const void *payload, size_t len) {
    unsigned char h[HEADER];
    h[0] = len >> 24; h[1] = len >> 16; h[2] = len >> 8; h[3] = len;
    h[4] = (unsigned char) type;
    h[5] = id >> 24; h[6] = id >> 16; h[7] = id >> 8; h[8] = id;
    write_all(port, h, HEADER);
    if (len) write_all(port, payload, len);
}

/* Sends a RESPONSE whose fields are the NUL-terminated strings given (ending with NULL). */
static void respond(uint32_t id, const char *first, ...) {
    static char buf[MAX_PAYLOAD];
    size_t len = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *f = first; f; f = va_arg(ap, const char *)) {
        size_t n = strlen(f);
        if (len + n + 1 > sizeof buf) n = sizeof buf - len - 1;
        memcpy(buf + len, f, n);
        len += n;
        buf[len++] = 0;
    }
    va_end(ap);
    send_frame(F_RESPONSE, id, buf, len);
}

static struct proc *find(uint32_t handle) {
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].used && procs[i].handle == handle) return &procs[i];
    return NULL;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void release(struct proc *p) {
    if (p->oom_wd > 0) inotify_rm_watch(inotify_fd, p->oom_wd); /* EINVAL once the cgroup is gone: harmless */
    close_fd(&p->in_fd);
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
    close_fd(&p->pty_fd);
    free(p->pending_in);
    if (p->process_file[0]) unlink(p->process_file);
    memset(p, 0, sizeof *p);
    p->in_fd = p->out_fd = p->err_fd = p->pty_fd = -1;
}

static char *read_file(const char *path, char *buf, size_t size) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0) return NULL;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    return buf;
}

/*
 * Runs argv with the given stdio (-1: /dev/null; for stderr -1 means "capture into out") and waits for it.
 * Returns its exit code (or -1 if it could not run); what it wrote to a captured stderr goes into out.
 */
static int run(char *const argv[], int in, int outfd, int errfd, char *out, size_t out_size) {
    int cap[2] = {-1, -1};
    if (out) out[0] = 0;
    if (errfd < 0 && pipe2(cap, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close_fd(&cap[0]); close_fd(&cap[1]);
        if (out) snprintf(out, out_size, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(in >= 0 ? in : devnull, 0);
        dup2(outfd >= 0 ? outfd : (errfd < 0 ? cap[1] : devnull), 1);
        dup2(errfd >= 0 ? errfd : cap[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        closefrom(3);
        execv(argv[0], argv);
        dprintf(2, "exec %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    size_t len = 0;
    if (cap[1] >= 0) {
        close_fd(&cap[1]);
        char drop[4096];
        for (;;) {
            char *dst = out && len + 1 < out_size ? out + len : drop;
            size_t room = out && len + 1 < out_size ? out_size - 1 - len : sizeof drop;
            ssize_t n = read(cap[0], dst, room);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            if (dst != drop) len += (size_t) n;
        }
        close_fd(&cap[0]);
        if (out) out[len] = 0;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* crun writes its errors to --log; on failure the message returned to the shim is the log's last lines. */
static void crun_error(const char *log, const char *what, int rc, char *msg, size_t size) {
    static char text[8192];
    read_file(log, text, sizeof text);
    /* crun's log lines are {"msg":"...","level":"error",...} with --log-format=json; text is plain. */
    char *last = text;
    for (char *nl = strchr(text, '\n'); nl && nl[1]; nl = strchr(nl + 1, '\n')) last = nl + 1;
    snprintf(msg, size, "crun %s exited with %d: %s", what, rc, *last ? last : "(no message)");
}

static void flush_stdin(struct proc *p);
static void watch_oom(struct proc *init);

static int make_pipes(struct proc *p, int child[3]) {
    int in[2] = {-1, -1}, outp[2], errp[2];
    if (p->want_stdin && pipe2(in, O_CLOEXEC) < 0) return -1;
    if (pipe2(outp, O_CLOEXEC) < 0) return -1;
    if (pipe2(errp, O_CLOEXEC) < 0) return -1;
    child[0] = in[0]; child[1] = outp[1]; child[2] = errp[1];
    p->in_fd = in[1];
    p->out_fd = outp[0];
    p->err_fd = errp[0];
    if (p->in_fd >= 0) fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

static pid_t read_pid(const char *file) {
    char buf[32];
    if (!read_file(file, buf, sizeof buf)) return -1;
    return (pid_t) atoi(buf);
}

/* The socket crun connects to with --console-socket; listening before crun runs, so the connection queues. */
static int console_listen(const char *path, char *msg, size_t size) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
        snprintf(msg, size, "console socket %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* After crun returned: its queued connection carries the pty master as SCM_RIGHTS. */
static int console_receive(int listener, char *msg, size_t size) {
    int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
        snprintf(msg, size, "crun sent no terminal: %s", strerror(errno));
        return -1;
    }
    char data[256];
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
    ssize_t n;
    while ((n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
    close(conn);
    struct cmsghdr *c = n < 0 ? NULL : CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
        snprintf(msg, size, "crun's console socket message had no file descriptor");
        return -1;
    }
    int master;
    memcpy(&master, CMSG_DATA(c), sizeof master);
    return master;
}

static void set_size(struct proc *p) {
    if (p->pty_fd < 0 || p->rows == 0 || p->cols == 0) return;
    struct winsize ws = {.ws_row = p->rows, .ws_col = p->cols};
    if (ioctl(p->pty_fd, TIOCSWINSZ, &ws) < 0) logf_("resize %u: %s", p->handle, strerror(errno));
}

/* Starts p (crun create for an init process, crun exec --detach for an exec); fills p->pid or msg. */
static int launch(struct proc *p, const char *bundle, char *msg, size_t size) {
    char log[512], pidfile[512];
    snprintf(log, sizeof log, STATE_DIR "/crun-%u.log", p->handle);
    snprintf(pidfile, sizeof pidfile, STATE_DIR "/proc-%u.pid", p->handle);
    unlink(log);
    unlink(pidfile);
    int child[3] = {-1, -1, -1};
    char console[512];
    int listener = -1;
    snprintf(console, sizeof console, STATE_DIR "/console-%u.sock", p->handle);
    if (p->tty) {
        /* crun gives the process the pty's slave as stdio; crun's own stdio stays /dev/null. */
        if ((listener = console_listen(console, msg, size)) < 0) return -1;
    } else if (make_pipes(p, child) < 0) {
        snprintf(msg, size, "pipe: %s", strerror(errno));
        return -1;
    }
    char logarg[600];
    snprintf(logarg, sizeof logarg, "--log=file:%s", log);
    /* Options before the container id: crun takes what follows it as arguments (exec: the command). */
    char *argv[16];
    int argc = 0;
    argv[argc++] = CRUN;
    argv[argc++] = logarg;
    if (p->is_init) {
        argv[argc++] = "create";
        argv[argc++] = "--bundle";
        argv[argc++] = (char *) bundle;
    } else {
        argv[argc++] = "exec";
        argv[argc++] = "--detach";
        argv[argc++] = "--process";
        argv[argc++] = p->process_file;
    }
    argv[argc++] = "--pid-file";
    argv[argc++] = pidfile;
    if (p->tty) {
        argv[argc++] = "--console-socket";
        argv[argc++] = console;
    }
    argv[argc++] = p->id;
    argv[argc] = NULL;
    int rc = run(argv, child[0], child[1], child[2], NULL, 0);
    close_fd(&child[0]);
    close_fd(&child[1]);
    close_fd(&child[2]);
    int no_console = rc == 0 && p->tty && (p->pty_fd = console_receive(listener, msg, size)) < 0;
    if (listener >= 0) {
        close(listener);
        unlink(console);
    }
    if (no_console) {
        /* crun made the process but we have no terminal for it: undo it rather than leave it unreachable */
        pid_t orphan = read_pid(pidfile);
        if (p->is_init) {
            char *argv[] = {CRUN, "delete", "--force", p->id, NULL};
            run(argv, -1, -1, -1, NULL, 0);
        } else if (orphan > 0) {
            kill(orphan, SIGKILL);
        }
        unlink(pidfile);
    }
    if (rc != 0 || no_console) {
        if (rc != 0) crun_error(log, p->is_init ? "create" : "exec", rc, msg, size);
        close_fd(&p->in_fd); close_fd(&p->out_fd); close_fd(&p->err_fd); close_fd(&p->pty_fd);
        return -1;
    }
    if (p->tty) {
        fcntl(p->pty_fd, F_SETFL, O_NONBLOCK); /* shared by the dups */
        p->out_fd = fcntl(p->pty_fd, F_DUPFD_CLOEXEC, 0);
        if (p->want_stdin) p->in_fd = fcntl(p->pty_fd, F_DUPFD_CLOEXEC, 0);
        set_size(p);
    }
    p->pid = read_pid(pidfile);
    unlink(pidfile);
    if (p->pid <= 0) {
        snprintf(msg, size, "crun wrote no pid to %s", pidfile);
        return -1;
    }
    if (p->is_init) watch_oom(p);
    flush_stdin(p);
    return 0;
}

static struct proc *new_proc(uint32_t handle, const char *id) {
    for (int i = 0; i < MAX_PROCS; i++) {
        if (!procs[i].used) {
            struct proc *p = &procs[i];
            memset(p, 0, sizeof *p);
            p->used = 1;
            p->handle = handle;
            snprintf(p->id, sizeof p->id, "%s", id);
            p->in_fd = p->out_fd = p->err_fd = p->pty_fd = -1;
            return p;
        }
    }
    return NULL;
}

/* The container's cgroup: the shim writes linux.cgroupsPath = /bollard/<id> into the spec it hands us. */
static void cgroup_file(char *buf, size_t size, const char *id, const char *file) {
    snprintf(buf, size, "/sys/fs/cgroup/bollard/%s/%s", id, file);
}

static void stat_key(const char *text, const char *key, char *out, size_t size) {
    snprintf(out, size, "0");
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, k) == 0 && l[k] == ' ') {
            size_t n = strcspn(l + k + 1, "\n");
            snprintf(out, size, "%.*s", (int) (n < size ? n : size - 1), l + k + 1);
            return;
        }
    }
}

/*
 * Reports a container's OOM kills as containerd's shims do (one TaskOOM per kill seen): the kernel counts them in
 * the cgroup's memory.events (oom_kill) when it sends the SIGKILL, so a check at the victim's reap is never early.
 */
static void check_oom(struct proc *init) {
    char path[512], events[1024], count[32];
    cgroup_file(path, sizeof path, init->id, "memory.events");
    if (!read_file(path, events, sizeof events)) return;
    stat_key(events, "oom_kill", count, sizeof count);
    unsigned long n = strtoul(count, NULL, 10);
    if (n <= init->oom_seen) return;
    init->oom_seen = n;
    char text[32];
    int len = snprintf(text, sizeof text, "%lu", n);
    send_frame(F_OOM, init->handle, text, (size_t) len + 1);
}

static struct proc *init_of(const char *id) {
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].used && procs[i].is_init && strcmp(procs[i].id, id) == 0) return &procs[i];
    return NULL;
}

/* memory.events changes raise IN_MODIFY: a kill of any process in the container is reported while it runs on. */
static void watch_oom(struct proc *init) {
    char path[512], events[1024], count[32];
    cgroup_file(path, sizeof path, init->id, "memory.events");
    if (read_file(path, events, sizeof events)) {
        stat_key(events, "oom_kill", count, sizeof count);
        init->oom_seen = strtoul(count, NULL, 10);
    }
    int wd = inotify_fd < 0 ? -1 : inotify_add_watch(inotify_fd, path, IN_MODIFY);
    if (wd < 0) logf_("cannot watch %s: %s", path, strerror(errno));
    else init->oom_wd = wd;
}

static void oom_events(void) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(inotify_fd, buf, sizeof buf)) > 0) {
        for (char *e = buf; e < buf + n; e += sizeof(struct inotify_event) + ((struct inotify_event *) e)->len) {
            int wd = ((struct inotify_event *) e)->wd;
            for (int i = 0; i < MAX_PROCS; i++)
                if (procs[i].used && procs[i].is_init && procs[i].oom_wd == wd) check_oom(&procs[i]);
        }
    }
}

static void op_stats(uint32_t rid, const char *id) {
    static char cpu[4096], mem[16384], events[1024];
    char path[512], usage[32], user[32], sys[32], current[32], max[32], pids[32], anon[32], file[32], oom[32],
        ws[32];
    cgroup_file(path, sizeof path, id, "cpu.stat");
    if (!read_file(path, cpu, sizeof cpu)) {
        respond(rid, "error", "no cgroup for container", id, NULL);
        return;
    }
    stat_key(cpu, "usage_usec", usage, sizeof usage);
    stat_key(cpu, "user_usec", user, sizeof user);
    stat_key(cpu, "system_usec", sys, sizeof sys);
    cgroup_file(path, sizeof path, id, "memory.current");
    if (!read_file(path, current, sizeof current)) snprintf(current, sizeof current, "0");
    cgroup_file(path, sizeof path, id, "memory.max");
    if (!read_file(path, max, sizeof max)) snprintf(max, sizeof max, "max");
    cgroup_file(path, sizeof path, id, "pids.current");
    if (!read_file(path, pids, sizeof pids)) snprintf(pids, sizeof pids, "0");
    cgroup_file(path, sizeof path, id, "memory.stat");
    read_file(path, mem, sizeof mem);
    stat_key(mem, "anon", anon, sizeof anon);
    stat_key(mem, "file", file, sizeof file);
    stat_key(mem, "inactive_file", ws, sizeof ws);
    cgroup_file(path, sizeof path, id, "memory.events");
    read_file(path, events, sizeof events);
    stat_key(events, "oom_kill", oom, sizeof oom);
    respond(rid, "ok", "cpu.usage_usec", usage, "cpu.user_usec", user, "cpu.system_usec", sys,
            "memory.current", current, "memory.max", max, "memory.anon", anon, "memory.file", file,
            "memory.inactive_file", ws, "memory.oom_kill", oom, "pids.current", pids, NULL);
}

static void op_pids(uint32_t rid, const char *id) {
    static char procs_text[65536];
    char path[512];
    cgroup_file(path, sizeof path, id, "cgroup.procs");
    if (!read_file(path, procs_text, sizeof procs_text)) {
        respond(rid, "error", "no cgroup for container", NULL);
        return;
    }
    respond(rid, "ok", procs_text, NULL);
}

/* ---- port-forward ---------------------------------------------------------------------------------------- */

static struct fwd *find_fwd(uint32_t handle) {
    for (int i = 0; i < MAX_FWDS; i++)
        if (fwds[i].used && fwds[i].handle == handle) return &fwds[i];
    return NULL;
}

static void fwd_release(struct fwd *f) {
    close_fd(&f->fd);
    free(f->pending);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* Ends the connection and tells the host why (an empty reason: both directions ended normally). */
static void fwd_close(struct fwd *f, const char *reason) {
    send_frame(F_PF_CLOSE, f->handle, reason, reason ? strlen(reason) : 0);
    fwd_release(f);
}

static void fwd_done_if_ended(struct fwd *f) {
    if (f->used && f->guest_eof && f->write_shut) fwd_close(f, NULL);
}

static void send_count(int type, uint32_t handle, size_t n) {
    char text[32];
    int len = snprintf(text, sizeof text, "%zu", n);
    send_frame(type, handle, text, (size_t) len + 1);
}

/* Writes what the host sent; each write is acknowledged so the host may send more (its window). */
static void fwd_flush(struct fwd *f) {
    while (f->pending_len > 0) {
        ssize_t n = write(f->fd, f->pending, f->pending_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            char reason[128];
            snprintf(reason, sizeof reason, "write to the guest connection: %s", strerror(errno));
            fwd_close(f, reason);
            return;
        }
        memmove(f->pending, f->pending + n, f->pending_len - (size_t) n);
        f->pending_len -= (size_t) n;
        send_count(F_PF_ACK, f->handle, (size_t) n);
    }
    if (f->host_eof && !f->write_shut) {
        shutdown(f->fd, SHUT_WR);
        f->write_shut = 1;
    }
    fwd_done_if_ended(f);
}

/* Sends what the socket has, within the window; at its EOF an empty PF_DATA. */
static void fwd_pump(struct fwd *f) {
    static char buf[PF_CHUNK];
    while (f->used && !f->guest_eof && f->unacked < PF_WINDOW) {
        size_t room = PF_WINDOW - f->unacked;
        ssize_t n = read(f->fd, buf, room < sizeof buf ? room : sizeof buf);
        if (n > 0) {
            send_frame(F_PF_DATA, f->handle, buf, (size_t) n);
            f->unacked += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) {
            char reason[128];
            snprintf(reason, sizeof reason, "read from the guest connection: %s", strerror(errno));
            fwd_close(f, reason);
            return;
        }
        send_frame(F_PF_DATA, f->handle, NULL, 0);
        f->guest_eof = 1;
        fwd_done_if_ended(f);
    }
}

/* Connects to the port on the guest's loopback (IPv4, then IPv6 as a Go dialer does); -1 with msg on failure. */
static int connect_local(int tcp_port, char *msg, size_t size) {
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t) tcp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t) tcp_port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int first_errno = 0;
    for (int family = 0; family < 2; family++) {
        int fd = socket(family ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) { if (!first_errno) first_errno = errno; continue; }
        int rc = family ? connect(fd, (struct sockaddr *) &v6, sizeof v6)
                        : connect(fd, (struct sockaddr *) &v4, sizeof v4);
        if (rc == 0) {
            fcntl(fd, F_SETFL, O_NONBLOCK);
            return fd;
        }
        if (!first_errno) first_errno = errno;
        close(fd);
    }
    snprintf(msg, size, "connect to port %d in the guest: %s", tcp_port, strerror(first_errno));
    return -1;
}

static void op_pf_connect(uint32_t rid, const char *handle_text, const char *port_text) {
    static char msg[256];
    uint32_t handle = (uint32_t) strtoul(handle_text, NULL, 10);
    long tcp_port = strtol(port_text, NULL, 10);
    if (tcp_port < 1 || tcp_port > 65535) { respond(rid, "error", "not a TCP port:", port_text, NULL); return; }
    if (find_fwd(handle)) { respond(rid, "error", "forward handle already in use", NULL); return; }
    struct fwd *f = NULL;
    for (int i = 0; i < MAX_FWDS && !f; i++)
        if (!fwds[i].used) f = &fwds[i];
    if (!f) { respond(rid, "error", "too many forwarded connections", NULL); return; }
    int fd = connect_local((int) tcp_port, msg, sizeof msg);
    if (fd < 0) { respond(rid, "error", msg, NULL); return; }
    memset(f, 0, sizeof *f);
    f->used = 1;
    f->handle = handle;
    f->fd = fd;
    respond(rid, "ok", NULL);
}

static void handle_pf_frame(int type, uint32_t handle, const char *payload, size_t len) {
    struct fwd *f = find_fwd(handle);
    if (!f) return; /* already closed here: the host hears (or heard) PF_CLOSE */
    if (type == F_PF_CLOSE) {
        fwd_release(f);
    } else if (type == F_PF_ACK) {
        char text[32];
        snprintf(text, sizeof text, "%.*s", (int) (len < sizeof text ? len : sizeof text - 1), payload);
        size_t n = strtoul(text, NULL, 10);
        f->unacked = n > f->unacked ? 0 : f->unacked - n;
    } else if (len == 0) {
        f->host_eof = 1;
        fwd_flush(f);
    } else if (!f->host_eof) {
        char *grown = realloc(f->pending, f->pending_len + len);
        if (!grown) { fwd_close(f, "out of memory"); return; }
        f->pending = grown;
        memcpy(f->pending + f->pending_len, payload, len);
        f->pending_len += len;
        fwd_flush(f);
    }
}

static int read_bytes(const char *id, const char *file, unsigned long long *value) {
    char path[512], text[32];
    cgroup_file(path, sizeof path, id, file);
    if (!read_file(path, text, sizeof text)) return -1;
    *value = strtoull(text, NULL, 10);
    return 0;
}

/*
 * Whether the container can take a memory limit now. cgroup v1 refuses a limit below the usage that reclaim cannot
 * bring it under (EBUSY; runc says "unable to set memory limit to ..." and Bollard answers FAILED_PRECONDITION),
 * but v2's memory.max takes any value and OOM-kills the container. So, as v1 does, reclaim first (memory.reclaim,
 * kernel 5.19+), then refuse in runc's words if the usage still exceeds the limit. Returns 0 when it fits (or the
 * cgroup cannot be read: crun update reports that), -1 with msg set otherwise.
 */
static int memory_limit_fits(const char *id, const char *limit_text, char *msg, size_t size) {
    char *end;
    errno = 0;
    unsigned long long limit = strtoull(limit_text, &end, 10);
    if (errno || *end) {
        snprintf(msg, size, "invalid memory limit \"%s\"", limit_text);
        return -1;
    }
    unsigned long long current, peak;
    if (read_bytes(id, "memory.current", &current) != 0 || current <= limit) return 0;
    char path[512], amount[32];
    cgroup_file(path, sizeof path, id, "memory.reclaim");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        int len = snprintf(amount, sizeof amount, "%llu", current - limit);
        if (write(fd, amount, (size_t) len) < 0 && errno != EAGAIN) logf_("%s: %s", path, strerror(errno));
        close(fd);
    }
    if (read_bytes(id, "memory.current", &current) != 0 || current <= limit) return 0;
    if (read_bytes(id, "memory.peak", &peak) != 0) peak = current;
    snprintf(msg, size, "unable to set memory limit to %llu (current usage: %llu, peak usage: %llu)", limit, current,
             peak);
    return -1;
}

static void handle_request(uint32_t rid, char *payload, size_t len) {
    char *f[MAX_FIELDS] = {0};
    int n = 0;
    size_t i = 0;
    while (i < len && n < MAX_FIELDS) {
        f[n++] = payload + i;
        size_t k = strnlen(payload + i, len - i);
        if (i + k >= len) { payload[len - 1] = 0; break; } /* unterminated last field: cut */
        i += k + 1;
    }
    if (n == 0) { respond(rid, "error", "empty request", NULL); return; }
    const char *op = f[0];
    static char msg[8192];
    char num[32];
#define NEED(k) if (n < (k) + 1) { respond(rid, "error", "too few fields for", op, NULL); return; }
    if (!strcmp(op, "ping")) {
        struct utsname u;
        uname(&u);
        respond(rid, "ok", u.release, NULL);
    } else if (!strcmp(op, "create") || !strcmp(op, "exec")) {
        /* create <handle> <id> <bundle> <stdin 0|1> [<tty 0|1>]  |  exec <handle> <id> <process.json> <stdin> [<tty>] */
        NEED(4);
        uint32_t handle = (uint32_t) strtoul(f[1], NULL, 10);
        if (find(handle)) { respond(rid, "error", "process handle already in use", NULL); return; }
        struct proc *p = new_proc(handle, f[2]);
        if (!p) { respond(rid, "error", "too many processes", NULL); return; }
        p->want_stdin = f[4][0] == '1';
        p->tty = n > 5 && f[5][0] == '1';
        if (!strcmp(op, "exec")) {
            snprintf(p->process_file, sizeof p->process_file, "%s", f[3]);
            respond(rid, "ok", NULL); /* started by "start" */
            return;
        }
        p->is_init = 1;
        if (launch(p, f[3], msg, sizeof msg) < 0) {
            release(p);
            respond(rid, "error", msg, NULL);
            return;
        }
        snprintf(num, sizeof num, "%d", p->pid);
        respond(rid, "ok", num, NULL);
    } else if (!strcmp(op, "start")) {
        NEED(1);
        struct proc *p = find((uint32_t) strtoul(f[1], NULL, 10));
        if (!p) { respond(rid, "error", "no such process", NULL); return; }
        if (p->is_init) {
            char log[512], logarg[600];
            snprintf(log, sizeof log, STATE_DIR "/crun-%u.log", p->handle);
            snprintf(logarg, sizeof logarg, "--log=file:%s", log);
            char *argv[] = {CRUN, logarg, "start", p->id, NULL};
            int rc = run(argv, -1, -1, -1, msg, sizeof msg);
            if (rc != 0) {
                crun_error(log, "start", rc, msg, sizeof msg);
                respond(rid, "error", msg, NULL);
                return;
            }
        } else if (p->pid == 0 && launch(p, NULL, msg, sizeof msg) < 0) {
            respond(rid, "error", msg, NULL);
            return;
        }
        snprintf(num, sizeof num, "%d", p->pid);
        respond(rid, "ok", num, NULL);
    } else if (!strcmp(op, "kill")) {
        /* kill <handle> <signal> <all 0|1> */
        NEED(3);
        struct proc *p = find((uint32_t) strtoul(f[1], NULL, 10));
        if (!p) { respond(rid, "error", "no such process", NULL); return; }
        if (f[3][0] == '1') {
            char *argv[] = {CRUN, "kill", "--all", p->id, f[2], NULL};
            int rc = run(argv, -1, -1, -1, msg, sizeof msg);
            if (rc != 0) { respond(rid, "error", msg, NULL); return; }
        } else if (p->pid > 0 && !p->exited && kill(p->pid, atoi(f[2])) < 0) {
            respond(rid, "error", strerror(errno), NULL);
            return;
        }
        respond(rid, "ok", NULL);
    } else if (!strcmp(op, "delete")) {
        NEED(1);
        struct proc *p = find((uint32_t) strtoul(f[1], NULL, 10));
        if (!p) { respond(rid, "ok", NULL); return; }
        if (p->is_init) {
            char *argv[] = {CRUN, "delete", "--force", p->id, NULL};
            int rc = run(argv, -1, -1, -1, msg, sizeof msg);
            if (rc != 0) { respond(rid, "error", msg, NULL); return; }
            char log[512];
            snprintf(log, sizeof log, STATE_DIR "/crun-%u.log", p->handle);
            unlink(log);
        }
        release(p);
        respond(rid, "ok", NULL);
    } else if (!strcmp(op, "resize")) {
        /* resize <handle> <rows> <cols>: before the pty exists (an exec not started yet) it is kept for it */
        NEED(3);
        struct proc *p = find((uint32_t) strtoul(f[1], NULL, 10));
        if (!p) { respond(rid, "error", "no such process", NULL); return; }
        if (!p->tty) { respond(rid, "error", "not a terminal process", NULL); return; }
        unsigned long rows = strtoul(f[2], NULL, 10), cols = strtoul(f[3], NULL, 10);
        if (rows == 0 || cols == 0 || rows > 0xffff || cols > 0xffff) {
            respond(rid, "error", "bad terminal size", NULL);
            return;
        }
        p->rows = (unsigned short) rows;
        p->cols = (unsigned short) cols;
        set_size(p);
        respond(rid, "ok", NULL);
    } else if (!strcmp(op, "update")) {
        /* update <id> <resources.json> [<the memory limit it sets, bytes>] */
        NEED(2);
        if (n > 3 && f[3][0] && memory_limit_fits(f[1], f[3], msg, sizeof msg) != 0) {
            respond(rid, "error", msg, NULL);
            return;
        }
        char *argv[] = {CRUN, "update", "--resources", f[2], f[1], NULL};
        int rc = run(argv, -1, -1, -1, msg, sizeof msg);
        if (rc != 0) { respond(rid, "error", msg, NULL); return; }
        respond(rid, "ok", NULL);
    } else if (!strcmp(op, "stats")) {
        NEED(1);
        op_stats(rid, f[1]);
    } else if (!strcmp(op, "pids")) {
        NEED(1);
        op_pids(rid, f[1]);
    } else if (!strcmp(op, "shm")) {
        /* shm <bytes>: the pod's /dev/shm tmpfs, which its containers bind; mounted once */
        NEED(1);
        static int shm_mounted;
        if (!shm_mounted) {
            char opts[64];
            snprintf(opts, sizeof opts, "mode=1777,size=%llu", strtoull(f[1], NULL, 10));
            mkdir(STATE_DIR "/pod-shm", 0755);
            if (mount("shm", STATE_DIR "/pod-shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
                respond(rid, "error", "mount the pod's shm tmpfs:", strerror(errno), NULL);
                return;
            }
            shm_mounted = 1;
        }
        respond(rid, "ok", NULL);
    } else if (!strcmp(op, "pf-connect")) {
        /* pf-connect <forward handle> <port> */
        NEED(2);
        op_pf_connect(rid, f[1], f[2]);
    } else if (!strcmp(op, "shutdown")) {
        respond(rid, "ok", NULL);
        sync();
        reboot(RB_POWER_OFF);
    } else {
        respond(rid, "error", "unknown operation", op, NULL);
    }
#undef NEED
}

/*
 * Closing a terminal's input: closing our end of the master would not end the reader's input (the slave sees
 * no EOF while the master is open; hanging up would SIGHUP the process), so, as a user would, type VEOF when the
 * line discipline is canonical: once to end a partial line, once more for the reader to see end of input.
 */
static void end_terminal_input(struct proc *p) {
    struct termios t;
    if (tcgetattr(p->in_fd, &t) < 0 || !(t.c_lflag & ICANON)) return;
    char eof[2] = {(char) t.c_cc[VEOF], (char) t.c_cc[VEOF]};
    int partial = p->last_in != 0 && p->last_in != '\n' && p->last_in != '\r' && p->last_in != (char) t.c_cc[VEOF];
    if (write(p->in_fd, eof, partial ? 2 : 1) < 0) logf_("VEOF into %u's terminal: %s", p->handle, strerror(errno));
}

static void flush_stdin(struct proc *p) {
    while (p->pending_len > 0 && p->in_fd >= 0) {
        ssize_t n = write(p->in_fd, p->pending_in, p->pending_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            p->pending_len = 0; /* EPIPE: the process closed its stdin */
            break;
        }
        if (n > 0) p->last_in = p->pending_in[n - 1];
        memmove(p->pending_in, p->pending_in + n, p->pending_len - (size_t) n);
        p->pending_len -= (size_t) n;
    }
    if (p->pending_len == 0 && p->close_in) {
        if (p->tty && p->in_fd >= 0) end_terminal_input(p);
        close_fd(&p->in_fd);
    }
}

static void handle_stdin(uint32_t handle, const char *data, size_t len) {
    struct proc *p = find(handle);
    /* Before the process is launched (an exec between Exec and Start) its stdin is kept until it is. */
    if (!p || !p->want_stdin || p->close_in || (p->pid > 0 && p->in_fd < 0)) return;
    if (len == 0) {
        p->close_in = 1;
    } else {
        char *grown = realloc(p->pending_in, p->pending_len + len);
        if (!grown) return;
        p->pending_in = grown;
        memcpy(p->pending_in + p->pending_len, data, len);
        p->pending_len += len;
    }
    flush_stdin(p);
}

/* Forwards what is readable now on *fd; at end of stream sends an empty frame and closes it. */
static void pump(struct proc *p, int *fd, int type) {
    static char buf[65536];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n > 0) {
            send_frame(type, p->handle, buf, (size_t) n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        send_frame(type, p->handle, NULL, 0);
        close_fd(fd);
        return;
    }
}

static void reap(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < MAX_PROCS; i++) {
            struct proc *p = &procs[i];
            if (!p->used || p->pid != pid || p->exited) continue;
            p->exited = 1;
            /* Whatever the process wrote is in its pipes now: send it before the exit. */
            if (p->out_fd >= 0) pump(p, &p->out_fd, F_STDOUT);
            if (p->err_fd >= 0) pump(p, &p->err_fd, F_STDERR);
            /* An OOM kill is reported before the exit it caused, as subscribers expect. */
            struct proc *init = init_of(p->id);
            if (init) check_oom(init);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            char text[16];
            int len = snprintf(text, sizeof text, "%d", code);
            send_frame(F_EXIT, p->handle, text, (size_t) len + 1);
        }
    }
}

int main(int argc, char **argv) {
    double started = uptime();
    const char *path = argc > 1 ? argv[1] : "/dev/virtio-ports/bollard.agent";
    signal(SIGPIPE, SIG_IGN);
    mkdir(STATE_DIR, 0700);
    for (int i = 0; i < MAX_PROCS; i++) procs[i].in_fd = procs[i].out_fd = procs[i].err_fd = procs[i].pty_fd = -1;
    for (int i = 0; i < MAX_FWDS; i++) fwds[i].fd = -1;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    for (int tries = 0; (port = open(path, O_RDWR | O_CLOEXEC)) < 0; tries++) {
        if (tries == 100) {
            logf_("cannot open %s: %s", path, strerror(errno));
            tries = 0;
        }
        usleep(50000);
    }
    struct utsname u;
    uname(&u);
    const char *init_uptime = getenv("BOLLARD_INIT_UPTIME");
    char ready[512], agent_up[32], ready_up[32];
    snprintf(agent_up, sizeof agent_up, "%.3f", started);
    snprintf(ready_up, sizeof ready_up, "%.3f", uptime());
    int rl = snprintf(ready, sizeof ready, "%s%c%s%c%s%c%s", u.release, 0, init_uptime ? init_uptime : "", 0,
                      agent_up, 0, ready_up);
    send_frame(F_READY, 0, ready, (size_t) rl + 1);

    static unsigned char in[HEADER + MAX_PAYLOAD];
    size_t have = 0;
    struct pollfd fds[3 + 3 * MAX_PROCS + MAX_FWDS];
    struct { struct proc *p; struct fwd *f; int which; } owner[3 + 3 * MAX_PROCS + MAX_FWDS];
    for (;;) {
        int nfds = 0;
        fds[nfds++] = (struct pollfd) {.fd = port, .events = POLLIN};
        fds[nfds++] = (struct pollfd) {.fd = sfd, .events = POLLIN};
        fds[nfds++] = (struct pollfd) {.fd = inotify_fd, .events = POLLIN};
        for (int i = 0; i < MAX_PROCS; i++) {
            struct proc *p = &procs[i];
            if (!p->used) continue;
            if (p->out_fd >= 0) { owner[nfds].p = p; owner[nfds].which = 1; fds[nfds++] = (struct pollfd) {.fd = p->out_fd, .events = POLLIN}; }
            if (p->err_fd >= 0) { owner[nfds].p = p; owner[nfds].which = 2; fds[nfds++] = (struct pollfd) {.fd = p->err_fd, .events = POLLIN}; }
            if (p->in_fd >= 0 && p->pending_len > 0) { owner[nfds].p = p; owner[nfds].which = 0; fds[nfds++] = (struct pollfd) {.fd = p->in_fd, .events = POLLOUT}; }
        }
        for (int i = 0; i < MAX_FWDS; i++) {
            struct fwd *f = &fwds[i];
            if (!f->used) continue;
            short events = (short) ((!f->guest_eof && f->unacked < PF_WINDOW ? POLLIN : 0)
                                    | (f->pending_len > 0 ? POLLOUT : 0));
            if (!events) continue;
            owner[nfds].p = NULL; owner[nfds].f = f; owner[nfds].which = 3;
            fds[nfds++] = (struct pollfd) {.fd = f->fd, .events = events};
        }
        if (poll(fds, (nfds_t) nfds, -1) < 0) {
            if (errno != EINTR) logf_("poll: %s", strerror(errno));
            continue;
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {}
            reap();
        }
        if (fds[2].revents) oom_events();
        for (int i = 3; i < nfds; i++) {
            if (!fds[i].revents) continue;
            if (owner[i].which == 3) {
                struct fwd *f = owner[i].f;
                if (f->used && f->fd == fds[i].fd && f->pending_len > 0) fwd_flush(f);
                if (f->used && f->fd == fds[i].fd) fwd_pump(f);
                continue;
            }
            struct proc *p = owner[i].p;
            if (!p->used) continue;
            if (owner[i].which == 1 && p->out_fd == fds[i].fd) pump(p, &p->out_fd, F_STDOUT);
            else if (owner[i].which == 2 && p->err_fd == fds[i].fd) pump(p, &p->err_fd, F_STDERR);
            else if (owner[i].which == 0 && p->in_fd == fds[i].fd) flush_stdin(p);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(port, in + have, sizeof in - have);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                usleep(100000); /* the host side is not connected: wait for it */
                continue;
            }
            have += (size_t) n;
            while (have >= HEADER) {
                uint32_t len = (uint32_t) in[0] << 24 | (uint32_t) in[1] << 16 | (uint32_t) in[2] << 8 | in[3];
                uint32_t id = (uint32_t) in[5] << 24 | (uint32_t) in[6] << 16 | (uint32_t) in[7] << 8 | in[8];
                int type = in[4];
                if (len > MAX_PAYLOAD) {
                    logf_("frame of %u bytes is over the limit; dropping the buffer", len);
                    have = 0;
                    break;
                }
                if (have < HEADER + len) break;
                char *payload = (char *) in + HEADER;
                if (type == F_REQUEST) {
                    if (len == 0) respond(id, "error", "empty request", NULL);
                    else handle_request(id, payload, len);
                } else if (type == F_STDIN) {
                    handle_stdin(id, payload, len);
                } else if (type == F_PF_DATA || type == F_PF_ACK || type == F_PF_CLOSE) {
                    handle_pf_frame(type, id, payload, len);
                }
                memmove(in, in + HEADER + len, have - HEADER - len);
                have -= HEADER + len;
            }
        }
    }
}
