#ifndef DROVE_CLIBVIRT_SHIM_H
#define DROVE_CLIBVIRT_SHIM_H
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif
