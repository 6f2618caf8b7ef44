/*
 * spawn OUT PROGRAM [ARGS...]: run PROGRAM and write its own resource usage
 * to the file OUT as JSON: {"cpu_user": s, "cpu_sys": s, "maxrss_kib": n,
 * "wall": s}; exit with its exit status.
 *
 * Why not os.wait4 in the Python driver: a child forked from the driver
 * keeps the driver's memory high-water mark across exec (the kernel saves
 * the old address space's peak RSS on exec), so every client would seem to
 * use at least the driver's ~25 MB. This launcher is small, and a process
 * it forks starts from its small address space.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn OUT PROGRAM [ARGS...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fprintf(f, "{\"cpu_user\": %.6f, \"cpu_sys\": %.6f, \"maxrss_kib\": %ld, \"wall\": %.6f}\n",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    fclose(f);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
