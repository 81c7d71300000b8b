/**
 * The parts every other module shares and none owns: atomic writes ({@code io}), checksums ({@code
 * checksum}) and the protobuf wire format ({@code protobuf}). It depends on nothing but the JDK.
 */
package dev.cria.core;
