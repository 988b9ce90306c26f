/* The protocol the PnP fixture driver (wdmpnp_drv.c) and its client (wdmpnp.c) share. */
#ifndef WDMPNP_H
#define WDMPNP_H
/* The fixture's device interface class: {8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31}. */
#define WDMPNP_INTERFACE_TEXT "{8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31}"
DEFINE_GUID(GUID_WDMPNP_INTERFACE, 0x8f4c3b1e, 0x2d7a, 0x4e59, 0xa1, 0xc6, 0x5b, 0x0e, 0x9d, 0x2f, 0x7a, 0x31);
/* Input: a ULONG; output: the ULONG xor WDMPNP_ECHO_KEY. */
#define IOCTL_WDMPNP_ECHO CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define WDMPNP_ECHO_KEY 0x5A5A0000u
#endif
