/**
 * oneDNN's bf16 matrix product through the Foreign Function and Memory API: {@link
 * dev.cria.onednn.OneDnnProvider} opens {@link dev.cria.onednn.OneDnnMatmul}, the CPU backend's
 * product in mixed precision. The shared libraries come from Maven Central's {@code
 * org.bytedeco:dnnl} jar ({@code libdnnl.so.3}, {@code libgomp.so.1}), unpacked once by {@link
 * dev.cria.onednn.NativeLibraries}; its JNI layer is not used. Native code lives only here.
 */
package dev.cria.onednn;
