include $(sort $(wildcard $(BR2_EXTERNAL_KEYWARD_PATH)/package/*/*.mk))
