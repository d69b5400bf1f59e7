/* profile.c — the `--profile` report of lmg bench and lmg train: device time per op type and
 * per node from the OpenCL backend's profiling table, and a Chrome trace of one step. */
#include "profile.h"
#include "../backends/opencl/opencl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char name[96], op[32], kernel[48];
    double ms, flops, bytes;
    long long nodes, launches;
} row;

static int by_ms(const void *a, const void *b)
{
    double x = ((const row *)a)->ms, y = ((const row *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void rate(char *buf, size_t n, double amount, double ms)
{
    if (amount > 0 && ms > 0) snprintf(buf, n, "%.1f", amount / (ms * 1e-3) * 1e-9);
    else snprintf(buf, n, "-");
}

/* JSON string body: node names are identifiers, but quote what JSON needs quoted. */
static void json_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
}

static int write_trace(const char *path, const lmg_opencl_prof_node *t, int n, int exec)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (t[i].exec != exec || t[i].calls == 0) continue;
        fprintf(f, "%s{\"name\": \"", first ? "" : ",\n");
        json_str(f, t[i].node);
        fprintf(f, "\", \"cat\": \"%s\", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": %.3f, "
                   "\"dur\": %.3f, \"args\": {\"op\": \"%s\", \"kernel\": \"",
                t[i].op, t[i].start_us, t[i].end_us - t[i].start_us, t[i].op);
        json_str(f, t[i].kernel);
        fprintf(f, "\", \"busy_ms\": %.4f, \"launches\": %d, \"gflop\": %.4f, \"mbytes\": %.3f}}",
                t[i].last_ms, t[i].commands, t[i].flops * 1e-9, t[i].bytes * 1e-6);
        first = 0;
    }
    fprintf(f, "\n]}\n");
    int bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

int cli_profile_report(const char *cmd, long long steps, double wall_ms, const char *trace,
                       int top)
{
    lmg_opencl_prof_node *t = NULL;
    int n = 0;
    if (lmg_opencl_profile_take(&t, &n) != LMG_OK) {
        fprintf(stderr, "lmg %s: out of memory for the profile\n", cmd);
        return 1;
    }
    if (n <= 0 || steps <= 0) {
        printf("profile: nothing was recorded (the OpenCL backend profiles; ref does not)\n");
        free(t);
        return 0;
    }
    /* The exec that took the most time is the training step; others (evaluation) are listed
     * by op type with it but the trace shows the step. */
    int main_exec = t[0].exec;
    double best = -1;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            if (t[j].exec == t[i].exec) s += t[j].total_ms;
        if (s > best) best = s, main_exec = t[i].exec;
    }
    row *ops = calloc((size_t)n, sizeof *ops), *nodes = calloc((size_t)n, sizeof *nodes);
    if (!ops || !nodes) {
        free(ops), free(nodes), free(t);
        fprintf(stderr, "lmg %s: out of memory for the profile\n", cmd);
        return 1;
    }
    int n_ops = 0, n_nodes = 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].exec != main_exec) continue;
        double ms = t[i].total_ms / (double)steps;
        double runs = (double)t[i].calls / (double)steps;
        total += ms;
        row *r = &nodes[n_nodes++];
        snprintf(r->name, sizeof r->name, "%s", t[i].node);
        snprintf(r->op, sizeof r->op, "%s", t[i].op);
        snprintf(r->kernel, sizeof r->kernel, "%s", t[i].kernel);
        r->ms = ms;
        r->flops = t[i].flops * runs;
        r->bytes = t[i].bytes * runs;
        r->nodes = 1;
        r->launches = t[i].commands;
        int k = 0;
        while (k < n_ops && strcmp(ops[k].op, t[i].op) != 0) k++;
        if (k == n_ops) snprintf(ops[n_ops++].op, sizeof ops[k].op, "%s", t[i].op);
        ops[k].ms += ms;
        ops[k].flops += r->flops;
        ops[k].bytes += r->bytes;
        ops[k].nodes++;
        ops[k].launches += t[i].commands;
    }
    qsort(ops, (size_t)n_ops, sizeof *ops, by_ms);
    qsort(nodes, (size_t)n_nodes, sizeof *nodes, by_ms);
    printf("\nprofile: device time per step from OpenCL events, mean over %lld steps: %.1f ms in "
           "commands, %.1f ms by the wall clock\n",
           steps, total, wall_ms);
    printf("GFLOP/s counts matrix products and attention only; GB/s counts each input and output "
           "once\n\n");
    printf("%-22s %6s %9s %9s %6s %9s %8s\n", "op type", "nodes", "launches", "ms/step", "%",
           "GFLOP/s", "GB/s");
    for (int i = 0; i < n_ops; i++) {
        char gf[32], gb[32];
        rate(gf, sizeof gf, ops[i].flops, ops[i].ms);
        rate(gb, sizeof gb, ops[i].bytes, ops[i].ms);
        printf("%-22s %6lld %9lld %9.2f %6.1f %9s %8s\n", ops[i].op, ops[i].nodes,
               ops[i].launches, ops[i].ms, total > 0 ? 100 * ops[i].ms / total : 0, gf, gb);
    }
    int shown = top > 0 && top < n_nodes ? top : n_nodes;
    printf("\n%-40s %-16s %-22s %4s %8s %6s %8s %7s\n", "node (top by time)", "op", "kernel", "ln",
           "ms/step", "%", "GFLOP/s", "GB/s");
    for (int i = 0; i < shown; i++) {
        char gf[32], gb[32];
        rate(gf, sizeof gf, nodes[i].flops, nodes[i].ms);
        rate(gb, sizeof gb, nodes[i].bytes, nodes[i].ms);
        printf("%-40.40s %-16.16s %-22.22s %4lld %8.2f %6.1f %8s %7s\n", nodes[i].name,
               nodes[i].op, nodes[i].kernel, nodes[i].launches, nodes[i].ms,
               total > 0 ? 100 * nodes[i].ms / total : 0, gf, gb);
    }
    int rc = 0;
    if (trace) {
        if (write_trace(trace, t, n, main_exec) == 0) {
            printf("\ntrace of the last step: %s (open in chrome://tracing or ui.perfetto.dev)\n",
                   trace);
        } else {
            fprintf(stderr, "lmg %s: %s: cannot write the trace\n", cmd, trace);
            rc = 1;
        }
    }
    free(ops);
    free(nodes);
    free(t);
    return rc;
}
