/* version.h: the konform release, shown by every program's --version. */
#ifndef KF_VERSION_H
#define KF_VERSION_H
#define KONFORM_VERSION "0.1.0"
#endif
