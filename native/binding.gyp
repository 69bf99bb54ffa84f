# The native kernels (N-API addon) over Debian's oneDNN (libdnnl-dev). Built by native/install.mjs
# at `npm install` against the system's node headers (--nodedir=/usr): no download.
# -march=native: the addon is compiled on the machine that runs it (install time).
{
  "targets": [
    {
      "target_name": "ptp_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/engine.cc",
        "src/conv.cc",
        "src/matmul.cc",
        "src/packed.cc",
        "src/activation.cc",
        "src/attention.cc",
        "src/norm.cc",
        "src/gelu.cc",
        "src/elementwise.cc",
        "src/reduce.cc",
        "src/adam.cc",
        "src/upload.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++20", "-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-fopenmp", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
