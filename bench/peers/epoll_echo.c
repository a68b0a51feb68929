/*
** bench/peers/epoll_echo.c -- W6's floor: the loopback echo written in C on
** one epoll loop, as lean as a hand-written server gets, with no runtime.
**
**   cc -O2 -o epoll_echo bench/peers/epoll_echo.c -lm
**   ./epoll_echo W6 [clients] [seconds]
**
** One process, one thread: a listener on 127.0.0.1, the server's side of
** every connection and every client share one epoll set. Each client writes
** a 64-byte message, reads until the 64 bytes are back, records the round
** trip and writes again, for `seconds`; the server writes back what it
** reads. Prints the same RESULT line as the Lua and Python peers. Other
** workloads are not written here: exit 2.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 64
#define BUF_LEN 4096

static const char MSG[MSG_LEN + 1] =     /* 63 x and a newline */
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";

typedef struct {
  int fd;
  int is_client;
  size_t got;             /* client: bytes of the current echo received */
  double sent_at;         /* client: when the current message went out */
  char buf[BUF_LEN];      /* server: what was read and not yet written */
  size_t pending;
} conn_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void watch(int ep, conn_t *c) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

/* The listener, bound to an ephemeral port; its port in *port. */
static int listen_any(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    die("listen");
  *port = ntohs(a.sin_port);
  return fd;
}

static int connect_to(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
    die("connect");
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) die("write");
    p += k;
    n -= (size_t)k;
  }
}

/* Server side: echo what arrived. Returns 0 when the peer closed. */
static int serve(conn_t *c) {
  ssize_t k = read(c->fd, c->buf, sizeof c->buf);
  if (k < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (k <= 0) return 0;
  send_all(c->fd, c->buf, (size_t)k);
  return 1;
}

typedef struct {
  double *lat;
  size_t n, cap;
} lats_t;

static void record(lats_t *l, double v) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 65536;
    l->lat = realloc(l->lat, l->cap * sizeof *l->lat);
    if (l->lat == NULL) die("realloc");
  }
  l->lat[l->n++] = v;
}

/* Client side: count what came back; a whole echo starts the next one. */
static void client_read(conn_t *c, lats_t *l, double t_end) {
  char buf[BUF_LEN];
  ssize_t k = read(c->fd, buf, sizeof buf);
  if (k < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (k <= 0) die("client read");
  c->got += (size_t)k;
  if (c->got < MSG_LEN) return;
  if (c->got > MSG_LEN) {
    fprintf(stderr, "FAIL: echo longer than the message\n");
    exit(1);
  }
  double t = now();
  record(l, t - c->sent_at);
  c->got = 0;
  if (t >= t_end) {                      /* done: this client stops */
    close(c->fd);
    c->fd = -1;
    return;
  }
  c->sent_at = t;
  send_all(c->fd, MSG, MSG_LEN);
}

int main(int argc, char **argv) {
  int clients = argc > 2 ? atoi(argv[2]) : 100;
  double secs = argc > 3 ? atof(argv[3]) : 2.0;
  int port, lfd, ep, live, i;
  conn_t *conns;
  lats_t l = {0};
  if (argc < 2 || strcmp(argv[1], "W6") != 0 || clients <= 0 || secs <= 0) {
    fprintf(stderr, "usage: epoll_echo W6 [clients] [seconds]\n");
    return 2;
  }
  conns = calloc((size_t)clients * 2, sizeof *conns);
  if (conns == NULL) die("calloc");
  lfd = listen_any(&port);
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (i = 0; i < clients; i++) {          /* connect, accept, pair up */
    conn_t *c = &conns[2 * i], *s = &conns[2 * i + 1];
    c->fd = connect_to(port);
    c->is_client = 1;
    s->fd = accept(lfd, NULL, NULL);
    if (s->fd < 0) die("accept");
    watch(ep, c);
    watch(ep, s);
  }
  double t0 = now(), t_end = t0 + secs;
  for (i = 0; i < clients; i++) {
    conns[2 * i].sent_at = t0;
    send_all(conns[2 * i].fd, MSG, MSG_LEN);
  }
  live = clients;
  while (live > 0) {
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, -1), k;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      if (c->fd < 0) continue;
      if (!c->is_client) {
        if (!serve(c)) {
          close(c->fd);
          c->fd = -1;
        }
        continue;
      }
      client_read(c, &l, t_end);
      if (c->fd < 0) live--;
    }
  }
  double elapsed = now() - t0;
  if (l.n == 0) {
    fprintf(stderr, "FAIL: no request completed\n");
    return 1;
  }
  qsort(l.lat, l.n, sizeof *l.lat, cmp_double);
  /* the same rank as common.lua's percentile: ceil(n * p), 1-based */
  size_t p99 = (size_t)ceil((double)l.n * 0.99);
  p99 = p99 < 1 ? 0 : p99 - 1;
  printf("RESULT W6 rps=%.6g p99_ms=%.6g requests=%zu clients=%d seconds=%.6g\n",
         (double)l.n / elapsed, l.lat[p99] * 1e3, l.n, clients, elapsed);
  for (i = 0; i < 2 * clients; i++)
    if (conns[i].fd >= 0) close(conns[i].fd);
  close(lfd);
  close(ep);
  free(conns);
  free(l.lat);
  return 0;
}
