"""Device push through one provider interface: APNs, FCM HTTP v1 and JPush."""
