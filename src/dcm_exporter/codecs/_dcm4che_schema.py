"""Facts about dcm4che's LDAP attribute types and object classes that device JSON needs (generated).

Produced from the dcm4che LDAP schema (``dicom.schema``, ``dcm4che.schema``, ``dcm4chee-archive.schema``): which
attributes have integer or boolean syntax, which are multi-valued, and which attributes each auxiliary object class
(and the structural classes that carry them) holds. Device JSON uses these to type values (``5000`` not ``"5000"``,
``true`` not ``"TRUE"``, arrays for multi-valued attributes) and to nest an attribute in the object of its class
(``dcmDevice.dcmArchiveDevice.dcmFuzzyAlgorithmClass``). ``tests/integration/test_upstream_config.py`` checks these
sets against the schema files.
"""

from __future__ import annotations

__all__ = ["AUXILIARY_CLASSES", "BOOLEAN", "CLASS_ATTRIBUTES", "INTEGER", "MULTI_VALUED"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


INTEGER: frozenset[str] = _names(
    """
    dcmAAACTimeout dcmAARQTimeout dcmAATimeout dcmARRPTimeout dcmAttributeSetNumber dcmAuditFacility
    dcmAuditHL7MsgLimit dcmAuditLoggerRetryInterval dcmAuditMajorFailureSeverity dcmAuditMinorFailureSeverity
    dcmAuditSeriousFailureSeverity dcmAuditSuccessSeverity dcmBitsStored dcmCalculateStudySizeFetchSize
    dcmCompressionFetchSize dcmCompressionThreads dcmCSVUploadChunkSize dcmDataElementCoercion
    dcmDeleteRejectedFetchSize dcmDeleterThreads dcmDeleteStudyBatchSize dcmDeleteStudyChunkSize
    dcmDeleteUPSFetchSize dcmDigitalSignatureSupport dcmExportPriority dcmExportTaskFetchSize
    dcmExternalWadoRSHttpStatusCode dcmFailedToDeleteFetchSize dcmFallbackCMoveSCPRetries
    dcmFallbackWadoURIHttpStatusCode dcmHistorySize dcmIanTaskFetchSize dcmIDGeneratorInitialValue
    dcmIdleTimeout dcmInExpressionCountLimit dcmKeyValueRetentionFetchSize dcmLeadingCFindSCPQueryCacheSize
    dcmLimitOpenAssociations dcmMaxOpsInvoked dcmMaxOpsPerformed dcmMaxQueueSize dcmMaxRetries
    dcmMaxTasksParallel dcmMaxThreads dcmMergeMWLCacheSize dcmMetricsRetentionPeriod dcmMWLFetchSize
    dcmObjectStorageCount dcmPatientVerificationFetchSize dcmPatientVerificationMaxRetries
    dcmPixelRepresentation dcmPrefetchPriority dcmPurgeInstanceRecordsFetchSize dcmPurgeQueueMessageFetchSize
    dcmPurgeStorageFetchSize dcmQidoMaxNumberOfResults dcmQStarVerificationFetchSize
    dcmQStarVerificationMockAccessState dcmQueryFetchSize dcmQueryMaxNumberOfResults dcmQueueTasksFetchSize
    dcmReceivePDULength dcmRejectExpiredSeriesFetchSize dcmRejectExpiredStudiesFetchSize dcmResponseTimeout
    dcmRetrieveCacheMaxParallel dcmRetrieveTaskFetchSize dcmRetrieveTimeout dcmRetryCreateDirectories
    dcmRetryDelayMultiplier dcmRulePriority dcmSchedulerMinStartDelay dcmSendPDULength dcmSendTimeout
    dcmSeriesMetadataFetchSize dcmSeriesMetadataMaxRetries dcmSeriesMetadataThreads dcmStorageConformance
    dcmStorageVerificationFetchSize dcmStorageVerificationMaxScheduled dcmStorePermissionCacheSize
    dcmStoreTimeout dcmStoreUpdateDBMaxRetries dcmStoreUpdateDBMaxRetryDelay dcmStoreUpdateDBMinRetryDelay
    dcmStowMaxFragmentLength dcmSupplementIssuerFetchSize dcmTaskFetchSize dcmTCPBacklog dcmTCPCloseDelay
    dcmTCPConnectTimeout dcmTCPReceiveBufferSize dcmTCPSendBufferSize dcmUpdateCharsetFetchSize
    dcmUPSEventSCUKeepAlive dcmUPSProcessingFetchSize dicomPort hl7OptionalMSHField hl7PSUTaskFetchSize
    """
)
"""Attributes of INTEGER syntax (written as JSON numbers)."""

BOOLEAN: frozenset[str] = _names(
    """
    dcmAccessControlSeriesIndividually dcmAltCreateDirectories dcmArchiveSeriesAsTAR dcmAuditIncludeInstanceUID
    dcmAuditMessageBOM dcmAuditMessageFormatXML dcmAuditSoftwareConfigurationVerbose dcmAuditTimestampInUTC
    dcmAuditUserIsRequestor dcmBulkDataExcludeDefaults dcmCalculateQueryAttributes
    dcmCheckIfAlreadyExistsOnDestination dcmCoercionSufficient dcmCombinedDateTimeMatching
    dcmCountLocationsByStatus dcmDBReadOnly dcmDeletePatientOnDeleteLastStudy
    dcmDeleteStudyLeastRecentlyAccessedFirst dcmExpireSeriesIndividually dcmExportAsSourceAE
    dcmExportPreviousEntity dcmExternalWadoRSRedirectOnNotFound dcmFallbackWadoURIRedirectOnNotFound
    dcmFilterByIssuerOfPatientID dcmFreezeExpirationDate dcmFuzzySemanticMatching dcmHideNotRejectedInstances
    dcmIanOnTimeout dcmIdentifyPatientByAllAttributes dcmIdentifyPatientByIDAndName
    dcmMatchSOPClassOnInstanceLevel dcmMWLImportDeleteNotFound dcmMWLImportFilterBySCU dcmNoDeletionConstraint
    dcmNoKeywords dcmNoRetrieveCacheOnPurgedInstanceRecords dcmPackPDV
    dcmPatientVerificationAdjustIssuerOfPatientID dcmPersonNameComponentOrderInsensitiveMatching
    dcmPurgeInstanceRecords dcmQidoETag dcmQueryMatchUnknown dcmReadOnly dcmRecordAttributeModification
    dcmRejectForDataRetentionExpiry dcmRelationalQueries dcmRelationalQueryNegotiationLenient
    dcmRelationalRetrieveNegotiationLenient dcmRestrictRetrieveSilently dcmRetrieveAsReceived
    dcmRetrieveTaskWarningOnNoMatch dcmRetrieveTaskWarningOnWarnings dcmRetrieveTimeoutTotal
    dcmRetryInProcessOnStartup dcmRetryOnWarning dcmRevokeExpiration dcmRevokeRejection
    dcmRoleSelectionNegotiationLenient dcmSendPendingCGet dcmSingleExportStorageByStudy
    dcmStartRetentionPeriodOnStudyDate dcmStgCmtUpdateLocationStatus dcmStorageThresholdExceedsPermanently
    dcmStorageVerificationOnRetrieve dcmStorageVerificationUpdateLocationStatus
    dcmStoreImplementationVersionName dcmStowExcludeAPPMarkers dcmStowQuicktime2MP4 dcmStowRetiredTransferSyntax
    dcmTCPNoDelay dcmTimezoneQueryAdjustment dcmTLSAllowAnyHostname dcmTLSDisableTrustManager
    dcmTLSNeedClientAuth dcmTrimISO2022CharacterSet dcmUpdateLocationStatusOnRetrieve dcmUpdateSeriesMetadata
    dcmUPS2MWLCFindSCP dcmUPS2MWLScheduledStationNameCodeValueAsAET dcmUPSIncludePatient
    dcmUPSIncludeReferencedRequest dcmUPSIncludeStudyInstanceUID dcmUPSUpdateWithoutTransactionUID
    dcmValidateCallingAEHostname dcmValidateUID dcmWadoIgnorePresentationLUTShape dcmWadoMetadataExcludePrivate
    dicomAssociationAcceptor dicomAssociationInitiator dicomInstalled hl7PSUForRequestedProcedure hl7PSUMWL
    hl7PSUOnTimeout hl7PSUPIDPV1 hl7TrackChangedPatientID hl7UseNullValue hl7VeterinaryUsePatientName
    """
)
"""Attributes of Boolean syntax (written as JSON ``true``/``false``)."""

MULTI_VALUED: frozenset[str] = _names(
    """
    dcmAcceptedCallingAETitle dcmAcceptedMoveDestination dcmAcceptedUserRole dcmAccessControlID dcmAETitle
    dcmAttributeSelector dcmAuditAlternativeUserID dcmAuditAssigningAuthorityOfPatientID dcmAuditEventActionCode
    dcmAuditEventID dcmAuditEventOutcomeIndicator dcmAuditEventTypeCode dcmAuditMajorFailureSeverity
    dcmAuditMinorFailureSeverity dcmAuditNetworkAccessPointID dcmAuditSeriousFailureSeverity
    dcmAuditSourceTypeCode dcmAuditSuccessSeverity dcmAuditUserID dcmAuditUserRoleIDCode dcmBitsStored
    dcmBlacklistedHostname dcmBodyPartExamined dcmBulkDataVRLengthThreshold dcmCharsetNameMapping
    dcmCoercionParam dcmCompressionSchedule dcmCStoreSCUOfCMoveSCP dcmDeIdentification dcmDeleteMWLDelay
    dcmDeleterThreshold dcmDeleterThresholdMaxUsableSpace dcmDeleteStudiesNotUsedSince dcmDeleteStudiesOlderThan
    dcmDeleteStudiesReceivedBefore dcmDiffStudiesIncludefieldAll dcmEncodeAsJSONNumber dcmEntitySelector
    dcmExporterID dcmExportStorageID dcmExternalRetrieveAET dcmFileOpenOption dcmFwdMppsDestination
    dcmHideRejectionNoteWithCode dcmHideSPSWithStatusFromMWL dcmHideSPSWithStatusFromMWLRS dcmHostname
    dcmIanDestination dcmIanTrigger dcmImageReadParam dcmImageWriteParam dcmImpaxReportProperty dcmIncludeField
    dcmIssuerOfPatientID dcmLimitAssociationsInitiatedBy dcmMasqueradeCalledAETitle dcmMasqueradeCallingAETitle
    dcmMergeAttribute dcmMergeLocalMWLSCP dcmMergeLocalMWLWithStatus dcmMergeLocalMWLWorklistLabel
    dcmMetadataStorageID dcmMultipleStoreAssociations dcmMWLWorklistLabelFilter dcmNoAsyncModeCalledAETitle
    dcmNoRetrieveCacheOnDestinationAETitle dcmNullifyIssuerOfPatientID dcmNullifyTag dcmObjectStorageID
    dcmOtherAETitle dcmOverwritePreviousRejection dcmParticipantObjectDataLifeCycle dcmParticipantObjectTypeCode
    dcmParticipantObjectTypeCodeRole dcmPhotometricInterpretation dcmPreferredTransferSyntax
    dcmPrefetchCStoreSCP dcmPrefetchForIssuerOfPatientID dcmProperty dcmQidoResultOrderBy
    dcmRejectConflictingPatientAttribute dcmRejectExpiredStudiesSchedule dcmRequestedProcedureCode
    dcmRequiresOtherUPSCanceled dcmRequiresOtherUPSCompleted dcmRetrieveAET dcmReturnRetrieveAET dcmRSOperation
    dcmSchedule dcmSeriesMetadataStorageID dcmShowInstancesRejectedByCode dcmSOPClass
    dcmSpanningCFindSCPRetrieveAET dcmStgCmtStorageID dcmStorageVerificationSchedule
    dcmStorageVerificationStorageID dcmStoreAccessControlID dcmTag dcmTLSProtocol dcmTrustedIssuerOfPatientID
    dcmTrustedPatientIDPattern dcmUPS2MWLScheduledStationNameCode dcmUPSEventSCU dcmUPSEventWebSocketQueueSize
    dcmUPSIgnoreDiscontinuationReasonCode dcmUPSRescheduleDiscontinuationReasonCode
    dcmUPSScheduledHumanPerformerCode dcmUPSScheduledStationClassCode dcmUPSScheduledStationLocationCode
    dcmUPSScheduledStationNameCode dcmUPSWorklistLabelFilter dcmWadoSupportedPRClasses dcmWadoSupportedSRClasses
    dcmWebServiceClass dcmXRoadProperty dicomApplicationCluster dicomAuthorizedNodeCertificateReference
    dicomInstitutionAddress dicomInstitutionCode dicomInstitutionDepartmentName dicomInstitutionName
    dicomNetworkConnectionReference dicomPreferredCalledAETitle dicomPreferredCallingAETitle
    dicomPrimaryDeviceType dicomRelatedDeviceReference dicomSoftwareVersion dicomSupportedCharacterSet
    dicomThisNodeCertificateReference dicomTLSCipherSuite dicomTransferSyntax dicomVendorData
    fhirPreferredAssigningAuthorityOfPatientID fhirSystemByIssuerOfPatientID
    fhirSystemByLocalNamespaceEntityIDOfAccessionNumber fhirSystemOfAccessionNumber fhirSystemOfPatientID
    hl7AcceptedMessageType hl7AcceptedSendingApplication hl7ADTReceivingApplication hl7CharsetNameMapping
    hl7FwdApplicationName hl7ImportReportTemplateParam hl7NoPatientCreateMessageType
    hl7NoPatientUpdateMessageType hl7OptionalMSHField hl7OrderControlStatus hl7ORUAction hl7OtherApplicationName
    hl7PrimaryAssigningAuthorityOfPatientID hl7PSUAction hl7PSUCondition hl7PSUReceivingApplication
    hl7PSUTemplateParam hl7PSUTrigger
    """
)
"""Attributes without SINGLE-VALUE (always written as JSON arrays)."""

_DICOMDEVICE: frozenset[str] = _names(
    """
    dicomAuthorizedNodeCertificateReference dicomDescription dicomDeviceName dicomDeviceSerialNumber
    dicomDeviceUID dicomInstalled dicomInstitutionAddress dicomInstitutionCode dicomInstitutionDepartmentName
    dicomInstitutionName dicomIssuerOfAccessionNumber dicomIssuerOfAdmissionID dicomIssuerOfContainerIdentifier
    dicomIssuerOfPatientID dicomIssuerOfServiceEpisodeID dicomIssuerOfSpecimenIdentifier dicomManufacturer
    dicomManufacturerModelName dicomOrderFillerIdentifier dicomOrderPlacerIdentifier dicomPrimaryDeviceType
    dicomRelatedDeviceReference dicomSoftwareVersion dicomStationName dicomThisNodeCertificateReference
    dicomVendorData
    """
)
"""MUST and MAY attributes of ``dicomDevice``."""

_DCMDEVICE: frozenset[str] = _names(
    """
    dcmKeyStoreKeyPin dcmKeyStoreKeyPinProperty dcmKeyStorePin dcmKeyStorePinProperty dcmKeyStoreType
    dcmKeyStoreURL dcmLimitAssociationsInitiatedBy dcmLimitOpenAssociations dcmRoleSelectionNegotiationLenient
    dcmTimeZoneOfDevice dcmTrustStorePin dcmTrustStorePinProperty dcmTrustStoreType dcmTrustStoreURL
    """
)
"""MUST and MAY attributes of ``dcmDevice``."""

_DCMARCHIVEDEVICE: frozenset[str] = _names(
    """
    dcmAcceptConflictingPatientID dcmAcceptMissingPatientID dcmAECacheStaleTimeout dcmAllowDeletePatient
    dcmAllowDeleteStudyPermanently dcmAllowRejectionForDataRetentionPolicyExpired dcmAltCMoveSCP
    dcmAudit2JsonFhirTemplateURI dcmAudit2XmlFhirTemplateURI dcmAuditAggregateDuration
    dcmAuditAssigningAuthorityOfPatientID dcmAuditHL7MsgLimit dcmAuditPollingInterval
    dcmAuditRecordRepositoryURL dcmAuditSoftwareConfigurationVerbose dcmAuditSpoolDirectory
    dcmAuditUnknownPatientID dcmAuditUnknownStudyInstanceUID dcmBulkDataDescriptorID dcmBulkDataSpoolDirectory
    dcmCalculateQueryAttributes dcmCalculateStudySizeDelay dcmCalculateStudySizeFetchSize
    dcmCalculateStudySizePollingInterval dcmChangeAccessControlIDPollingInterval dcmChangeRequesterAET
    dcmCharsetNameMapping dcmCompressionAETitle dcmCompressionFetchSize dcmCompressionPollingInterval
    dcmCompressionSchedule dcmCompressionThreads dcmCopyMoveUpdatePolicy dcmCStoreSCUOfCMoveSCP
    dcmCSVUploadChunkSize dcmDBReadOnly dcmDefaultCharacterSet dcmDeleteMWLDelay
    dcmDeletePatientOnDeleteLastStudy dcmDeleteRejectedFetchSize dcmDeleteRejectedPollingInterval
    dcmDeleteStudyBatchSize dcmDeleteStudyChunkSize dcmDeleteStudyInterval
    dcmDeleteStudyLeastRecentlyAccessedFirst dcmDeleteUPSCanceledDelay dcmDeleteUPSCompletedDelay
    dcmDeleteUPSFetchSize dcmDeleteUPSPollingInterval dcmDiffStudiesIncludefieldAll
    dcmDiffTaskProgressUpdateInterval dcmElasticSearchURL dcmEncodeAsJSONNumber dcmExportTaskFetchSize
    dcmExportTaskPollingInterval dcmExternalRetrieveAEDestination dcmExternalWadoRSHttpStatusCode
    dcmExternalWadoRSRedirectOnNotFound dcmExternalWadoRSWebAppName dcmFailedToDeleteFetchSize
    dcmFailedToDeletePollingInterval dcmFallbackCMoveSCP dcmFallbackCMoveSCPCallingAET
    dcmFallbackCMoveSCPDestination dcmFallbackCMoveSCPLeadingCFindSCP dcmFallbackCMoveSCPLevel
    dcmFallbackCMoveSCPRetries dcmFallbackCMoveSCPStudyOlderThan dcmFallbackWadoURIHttpStatusCode
    dcmFallbackWadoURIRedirectOnNotFound dcmFallbackWadoURIWebAppName dcmFilterByIssuerOfPatientID
    dcmFuzzyAlgorithmClass dcmFwdMppsDestination dcmHideSPSWithStatusFromMWL dcmHideSPSWithStatusFromMWLRS
    dcmIanDelay dcmIanDestination dcmIanOnTimeout dcmIanTaskFetchSize dcmIanTaskPollingInterval dcmIanTimeout
    dcmIanTrigger dcmIdentifyPatientByAllAttributes dcmIdentifyPatientByIDAndName dcmImpaxReportProperty
    dcmInExpressionCountLimit dcmInvokeImageDisplayPatientURL dcmInvokeImageDisplayStudyURL
    dcmKeyValueRetentionFetchSize dcmKeyValueRetentionPeriod dcmKeyValueRetentionPollingInterval
    dcmLeadingCFindSCPQueryCacheSize dcmLeadingCFindSCPQueryCacheStaleTimeout dcmLinkMWLEntryUpdatePolicy
    dcmMatchSOPClassOnInstanceLevel dcmMaxAccessTimeStaleness dcmMergeMWLCacheSize dcmMergeMWLCacheStaleTimeout
    dcmMetadataStorageID dcmMultipleStoreAssociations dcmMWLAccessionNumberGenerator dcmMWLFetchSize
    dcmMWLImportInterval dcmMWLPollingInterval dcmMWLRequestedProcedureIDGenerator
    dcmMWLScheduledProcedureStepIDGenerator dcmOverwritePolicy dcmPatientVerificationAdjustIssuerOfPatientID
    dcmPatientVerificationFetchSize dcmPatientVerificationMaxRetries dcmPatientVerificationMaxStaleness
    dcmPatientVerificationPDQServiceID dcmPatientVerificationPeriod dcmPatientVerificationPeriodOnNotFound
    dcmPatientVerificationPollingInterval dcmPatientVerificationRetryInterval
    dcmPersonNameComponentOrderInsensitiveMatching dcmPreserveStudyInterval dcmProxyUpstreamURL
    dcmPurgeInstanceRecords dcmPurgeInstanceRecordsDelay dcmPurgeInstanceRecordsFetchSize
    dcmPurgeInstanceRecordsPollingInterval dcmPurgeQueueMessageFetchSize dcmPurgeQueueMessagePollingInterval
    dcmPurgeStgCmtCompletedDelay dcmPurgeStgCmtPollingInterval dcmPurgeStorageFetchSize
    dcmPurgeStoragePollingInterval dcmQidoETag dcmQidoMaxNumberOfResults dcmQidoResultOrderBy
    dcmQStarVerificationDelay dcmQStarVerificationFetchSize dcmQStarVerificationMockAccessState
    dcmQStarVerificationPollingInterval dcmQStarVerificationStorageID dcmQStarVerificationURL dcmQueryFetchSize
    dcmQueryMatchUnknown dcmQueryMaxNumberOfResults dcmQueryRetrieveViewID dcmQueueTasksFetchSize
    dcmRecordAttributeModification dcmRejectConflictingPatientAttribute dcmRejectExpiredSeriesFetchSize
    dcmRejectExpiredStudiesAETitle dcmRejectExpiredStudiesFetchSize dcmRejectExpiredStudiesPollingInterval
    dcmRejectExpiredStudiesPollingStartTime dcmRejectExpiredStudiesSchedule dcmRejectionNoteStorageAET
    dcmRelationalMismatchPolicy dcmRelationalQueryNegotiationLenient dcmRelationalRetrieveNegotiationLenient
    dcmRemapRetrieveURL dcmRestrictRetrieveAccordingTransferCapabilities dcmRestrictRetrieveSilently
    dcmRetrieveAET dcmRetrieveTaskFetchSize dcmRetrieveTaskPollingInterval dcmRetrieveTaskWarningOnNoMatch
    dcmRetrieveTaskWarningOnWarnings dcmReturnRetrieveAET dcmSchedulerMinStartDelay dcmSendPendingCGet
    dcmSendPendingCMoveInterval dcmSeriesMetadataDelay dcmSeriesMetadataFetchSize dcmSeriesMetadataMaxRetries
    dcmSeriesMetadataPollingInterval dcmSeriesMetadataRetryInterval dcmSeriesMetadataStorageID
    dcmSeriesMetadataThreads dcmShowPatientInfoInAuditLog dcmShowPatientInfoInSystemLog dcmSpanningCFindSCP
    dcmSpanningCFindSCPPolicy dcmSpanningCFindSCPRetrieveAET dcmStgCmtPolicy dcmStgCmtStorageID
    dcmStgCmtUpdateLocationStatus dcmStorageID dcmStorageVerificationAETitle dcmStorageVerificationBatchID
    dcmStorageVerificationFetchSize dcmStorageVerificationInitialDelay dcmStorageVerificationMaxScheduled
    dcmStorageVerificationOnRetrieve dcmStorageVerificationPeriod dcmStorageVerificationPolicy
    dcmStorageVerificationPollingInterval dcmStorageVerificationSchedule dcmStorageVerificationStorageID
    dcmStorageVerificationUpdateLocationStatus dcmStoreImplementationVersionName dcmStorePermissionCacheSize
    dcmStorePermissionCacheStaleTimeout dcmStorePermissionServiceErrorCodePattern
    dcmStorePermissionServiceErrorCommentPattern dcmStorePermissionServiceExpirationDatePattern
    dcmStorePermissionServiceResponse dcmStorePermissionServiceResponse dcmStorePermissionServiceResponsePattern
    dcmStorePermissionServiceURL dcmStoreUpdateDBMaxRetries dcmStoreUpdateDBMaxRetryDelay
    dcmStoreUpdateDBMinRetryDelay dcmStowExcludeAPPMarkers dcmStowMaxFragmentLength dcmStowQuicktime2MP4
    dcmStowRetiredTransferSyntax dcmStowSpoolDirectory dcmSupplementIssuerFetchSize dcmTaskFetchSize
    dcmTaskPollingInterval dcmTrustedIssuerOfPatientID dcmTrustedIssuerOfPatientIDPattern
    dcmTrustedPatientIDPattern dcmUIConfigurationDeviceName dcmUnzipVendorDataToURI dcmUpdateCharsetFetchSize
    dcmUpdateLocationStatusOnRetrieve dcmUpdateSeriesMetadata dcmUPS2MWLCFindSCP
    dcmUPS2MWLScheduledStationNameCode dcmUPS2MWLScheduledStationNameCodeValueAsAET dcmUPSEventSCU
    dcmUPSEventSCUKeepAlive dcmUPSEventWebSocketQueueSize dcmUPSProcessingFetchSize
    dcmUPSProcessingPollingInterval dcmUPSUpdateWithoutTransactionUID dcmUPSWorklistLabel
    dcmUserIdentityNegotiation dcmUserIdentityNegotiationKeycloakClientID dcmUserIdentityNegotiationRole
    dcmValidateCallingAEHostname dcmValidateUID dcmWadoCDA2HtmlTemplateURI dcmWadoIgnorePresentationLUTShape
    dcmWadoMetadataExcludePrivate dcmWadoSpoolDirectory dcmWadoSR2HtmlTemplateURI dcmWadoSR2TextTemplateURI
    dcmWadoSupportedPRClasses dcmWadoSupportedSRClasses dcmWadoThumbnailViewport dcmWadoVideoAcceptRanges
    dcmWadoZIPEntryNameFormat dcmXDSiFallbackCMoveSCP dcmXDSiFallbackCMoveSCPCallingAET
    dcmXDSiFallbackCMoveSCPDestination dcmXDSiImagingDocumentSourceAETitle dcmXRoadProperty
    fhirDefaultSystemOfAccessionNumber fhirDefaultSystemOfPatientID fhirPreferredAssigningAuthorityOfPatientID
    fhirSystemByIssuerOfPatientID fhirSystemByLocalNamespaceEntityIDOfAccessionNumber
    fhirSystemIssuerOfPatientIDPrefix fhirSystemLocalNamespaceEntityIDOfAccessionNumberPrefix
    fhirSystemOfAccessionNumber fhirSystemOfPatientID hl7ADTReceivingApplication hl7ADTSendingApplication
    hl7CharsetNameMapping hl7DicomCharacterSet hl7ErrorLogFilePattern hl7ImportReportAdjustIUID
    hl7ImportReportMissingAdmissionIDPolicy hl7ImportReportMissingStudyIUIDCFindSCP
    hl7ImportReportMissingStudyIUIDPolicy hl7ImportReportTemplateParam hl7ImportReportTemplateURI
    hl7LogFilePattern hl7MergeCompositeObjectMatchingKey hl7NoPatientCreateMessageType
    hl7NoPatientUpdateMessageType hl7OrderMissingAdmissionIDPolicy hl7OrderMissingStudyIUIDPolicy hl7ORUAction
    hl7OtherPatientIDs hl7OutgoingErrorLogFilePattern hl7OutgoingLogFilePattern
    hl7OutgoingPatientUpdateTemplateURI hl7PatientArrivalMessageType hl7PatientUpdateTemplateURI
    hl7PrimaryAssigningAuthorityOfPatientID hl7PSUAccessionNumber hl7PSUAction hl7PSUCondition hl7PSUDelay
    hl7PSUFillerOrderNumber hl7PSUForRequestedProcedure hl7PSUMessageType hl7PSUMppsTemplateURI hl7PSUMWL
    hl7PSUMWLMatchingKey hl7PSUOnTimeout hl7PSUPIDPV1 hl7PSUPlacerOrderNumber hl7PSUReceivingApplication
    hl7PSURequestedProcedureID hl7PSUSendingApplication hl7PSUStudyTemplateURI hl7PSUTaskFetchSize
    hl7PSUTaskPollingInterval hl7PSUTemplateParam hl7PSUTimeout hl7PSUTrigger hl7ReferredMergedPatientPolicy
    hl7ScheduledProtocolCodeInOrder hl7ScheduledStationAETInOrder hl7ScheduleProcedureTemplateURI
    hl7TrackChangedPatientID hl7UseNullValue hl7VeterinaryUsePatientName
    """
)
"""MUST and MAY attributes of ``dcmArchiveDevice``."""

_DICOMNETWORKAE: frozenset[str] = _names(
    """
    dicomAETitle dicomApplicationCluster dicomAssociationAcceptor dicomAssociationInitiator dicomDescription
    dicomInstalled dicomNetworkConnectionReference dicomPreferredCalledAETitle dicomPreferredCallingAETitle
    dicomSupportedCharacterSet dicomVendorData
    """
)
"""MUST and MAY attributes of ``dicomNetworkAE``."""

_DCMNETWORKAE: frozenset[str] = _names(
    """
    dcmAcceptedCallingAETitle dcmMasqueradeCalledAETitle dcmMasqueradeCallingAETitle dcmNoAsyncModeCalledAETitle
    dcmOtherAETitle dcmPreferredTransferSyntax dcmRoleSelectionNegotiationLenient
    dcmShareTransferCapabilitiesFromAETitle hl7ApplicationName
    """
)
"""MUST and MAY attributes of ``dcmNetworkAE``."""

_DCMARCHIVENETWORKAE: frozenset[str] = _names(
    """
    dcmAcceptConflictingPatientID dcmAcceptedMoveDestination dcmAcceptedUserRole dcmAcceptMissingPatientID
    dcmAccessControlID dcmAllowDeletePatient dcmAllowDeleteStudyPermanently
    dcmAllowRejectionForDataRetentionPolicyExpired dcmAltCMoveSCP dcmBulkDataDescriptorID
    dcmBulkDataSpoolDirectory dcmChangeRequesterAET dcmCopyMoveUpdatePolicy dcmDefaultCharacterSet
    dcmDiffStudiesIncludefieldAll dcmEncodeAsJSONNumber dcmExternalRetrieveAEDestination
    dcmExternalWadoRSHttpStatusCode dcmExternalWadoRSRedirectOnNotFound dcmExternalWadoRSWebAppName
    dcmFallbackCMoveSCP dcmFallbackCMoveSCPCallingAET dcmFallbackCMoveSCPDestination
    dcmFallbackCMoveSCPLeadingCFindSCP dcmFallbackCMoveSCPLevel dcmFallbackCMoveSCPRetries
    dcmFallbackCMoveSCPStudyOlderThan dcmFallbackWadoURIHttpStatusCode dcmFallbackWadoURIRedirectOnNotFound
    dcmFallbackWadoURIWebAppName dcmFilterByIssuerOfPatientID dcmFwdMppsDestination
    dcmGrantAccessPrevStudiesOfPatient dcmHideSPSWithStatusFromMWL dcmHideSPSWithStatusFromMWLRS dcmIanDelay
    dcmIanDestination dcmIanOnTimeout dcmIanTimeout dcmIanTrigger dcmInvokeImageDisplayPatientURL
    dcmInvokeImageDisplayStudyURL dcmLinkMWLEntryUpdatePolicy dcmMatchSOPClassOnInstanceLevel
    dcmMetadataStorageID dcmMultipleStoreAssociations dcmMWLAccessionNumberGenerator
    dcmMWLRequestedProcedureIDGenerator dcmMWLScheduledProcedureStepIDGenerator dcmMWLWorklistLabel
    dcmMWLWorklistLabelFilter dcmObjectStorageCount dcmObjectStorageID dcmOverwritePolicy
    dcmPersonNameComponentOrderInsensitiveMatching dcmPurgeInstanceRecordsDelay dcmQidoETag
    dcmQidoMaxNumberOfResults dcmQidoResultOrderBy dcmQueryMatchUnknown dcmQueryMaxNumberOfResults
    dcmQueryRetrieveViewID dcmRecordAttributeModification dcmRejectConflictingPatientAttribute
    dcmRelationalMismatchPolicy dcmRelationalQueryNegotiationLenient dcmRelationalRetrieveNegotiationLenient
    dcmRestrictRetrieveAccordingTransferCapabilities dcmRestrictRetrieveSilently dcmRetrieveAET
    dcmRetrieveTaskWarningOnNoMatch dcmRetrieveTaskWarningOnWarnings dcmReturnRetrieveAET dcmSendPendingCGet
    dcmSendPendingCMoveInterval dcmSeriesMetadataDelay dcmSpanningCFindSCP dcmSpanningCFindSCPPolicy
    dcmSpanningCFindSCPRetrieveAET dcmStgCmtPolicy dcmStgCmtStorageID dcmStgCmtUpdateLocationStatus dcmStorageID
    dcmStorageVerificationInitialDelay dcmStorageVerificationOnRetrieve dcmStorageVerificationPolicy
    dcmStorageVerificationStorageID dcmStorageVerificationUpdateLocationStatus dcmStoreAccessControlID
    dcmStorePermissionServiceErrorCodePattern dcmStorePermissionServiceErrorCommentPattern
    dcmStorePermissionServiceExpirationDatePattern dcmStorePermissionServiceResponse
    dcmStorePermissionServiceResponse dcmStorePermissionServiceResponsePattern dcmStorePermissionServiceURL
    dcmStowExcludeAPPMarkers dcmStowMaxFragmentLength dcmStowQuicktime2MP4 dcmStowRetiredTransferSyntax
    dcmUpdateLocationStatusOnRetrieve dcmUPS2MWLCFindSCP dcmUPSEventSCU dcmUPSEventSCUKeepAlive
    dcmUPSUpdateWithoutTransactionUID dcmUPSWorklistLabel dcmUPSWorklistLabelFilter dcmUserIdentityNegotiation
    dcmUserIdentityNegotiationKeycloakClientID dcmUserIdentityNegotiationRole dcmValidateCallingAEHostname
    dcmWadoCDA2HtmlTemplateURI dcmWadoIgnorePresentationLUTShape dcmWadoMetadataExcludePrivate
    dcmWadoSR2HtmlTemplateURI dcmWadoSR2TextTemplateURI dcmWadoThumbnailViewport dcmWadoVideoAcceptRanges
    dcmWadoZIPEntryNameFormat hl7PSUAccessionNumber hl7PSUAction hl7PSUCondition hl7PSUDelay
    hl7PSUFillerOrderNumber hl7PSUForRequestedProcedure hl7PSUMessageType hl7PSUMppsTemplateURI hl7PSUMWL
    hl7PSUMWLMatchingKey hl7PSUOnTimeout hl7PSUPIDPV1 hl7PSUPlacerOrderNumber hl7PSUReceivingApplication
    hl7PSURequestedProcedureID hl7PSUSendingApplication hl7PSUStudyTemplateURI hl7PSUTemplateParam hl7PSUTimeout
    hl7PSUTrigger
    """
)
"""MUST and MAY attributes of ``dcmArchiveNetworkAE``."""

_DICOMNETWORKCONNECTION: frozenset[str] = _names(
    """
    cn dicomHostname dicomInstalled dicomPort dicomTLSCipherSuite
    """
)
"""MUST and MAY attributes of ``dicomNetworkConnection``."""

_DCMNETWORKCONNECTION: frozenset[str] = _names(
    """
    dcmAAACTimeout dcmAARQTimeout dcmAATimeout dcmARRPTimeout dcmBindAddress dcmBlacklistedHostname
    dcmClientBindAddress dcmHTTPProxy dcmIdleTimeout dcmMaxOpsInvoked dcmMaxOpsPerformed dcmPackPDV dcmProtocol
    dcmReceivePDULength dcmResponseTimeout dcmRetrieveTimeout dcmRetrieveTimeoutTotal dcmSendPDULength
    dcmSendTimeout dcmStoreTimeout dcmTCPBacklog dcmTCPCloseDelay dcmTCPConnectTimeout dcmTCPNoDelay
    dcmTCPReceiveBufferSize dcmTCPSendBufferSize dcmTLSEndpointIdentificationAlgorithm dcmTLSNeedClientAuth
    dcmTLSProtocol
    """
)
"""MUST and MAY attributes of ``dcmNetworkConnection``."""

_DICOMTRANSFERCAPABILITY: frozenset[str] = _names(
    """
    cn dicomSOPClass dicomTransferRole dicomTransferSyntax
    """
)
"""MUST and MAY attributes of ``dicomTransferCapability``."""

_DCMTRANSFERCAPABILITY: frozenset[str] = _names(
    """
    dcmCombinedDateTimeMatching dcmDataElementCoercion dcmDigitalSignatureSupport dcmFuzzySemanticMatching
    dcmPreferredTransferSyntax dcmRelationalQueries dcmStorageConformance dcmTimezoneQueryAdjustment
    """
)
"""MUST and MAY attributes of ``dcmTransferCapability``."""

_HL7APPLICATION: frozenset[str] = _names(
    """
    dicomApplicationCluster dicomDescription dicomInstalled dicomNetworkConnectionReference
    hl7AcceptedMessageType hl7AcceptedSendingApplication hl7ApplicationName hl7DefaultCharacterSet
    hl7OptionalMSHField hl7OtherApplicationName hl7SendingCharacterSet
    """
)
"""MUST and MAY attributes of ``hl7Application``."""

_DCMARCHIVEHL7APPLICATION: frozenset[str] = _names(
    """
    dcmAuditHL7MsgLimit dcmDestinationAE dcmMWLAccessionNumberGenerator dcmMWLRequestedProcedureIDGenerator
    dcmMWLScheduledProcedureStepIDGenerator dcmMWLWorklistLabel dcmRecordAttributeModification dicomAETitle
    hl7DicomCharacterSet hl7ErrorLogFilePattern hl7ImportReportAdjustIUID
    hl7ImportReportMissingAdmissionIDPolicy hl7ImportReportMissingStudyIUIDCFindSCP
    hl7ImportReportMissingStudyIUIDPolicy hl7ImportReportTemplateParam hl7ImportReportTemplateURI
    hl7LogFilePattern hl7MergeCompositeObjectMatchingKey hl7NoPatientCreateMessageType
    hl7NoPatientUpdateMessageType hl7OrderMissingAdmissionIDPolicy hl7OrderMissingStudyIUIDPolicy hl7ORUAction
    hl7OtherPatientIDs hl7OutgoingErrorLogFilePattern hl7OutgoingLogFilePattern hl7PatientArrivalMessageType
    hl7PatientUpdateTemplateURI hl7PrimaryAssigningAuthorityOfPatientID hl7ReferredMergedPatientPolicy
    hl7ScheduledProtocolCodeInOrder hl7ScheduledStationAETInOrder hl7ScheduleProcedureTemplateURI
    hl7UseNullValue hl7VeterinaryUsePatientName
    """
)
"""MUST and MAY attributes of ``dcmArchiveHL7Application``."""

CLASS_ATTRIBUTES: dict[str, frozenset[str]] = {
    "dicomDevice": _DICOMDEVICE,
    "dcmDevice": _DCMDEVICE,
    "dcmArchiveDevice": _DCMARCHIVEDEVICE,
    "dicomNetworkAE": _DICOMNETWORKAE,
    "dcmNetworkAE": _DCMNETWORKAE,
    "dcmArchiveNetworkAE": _DCMARCHIVENETWORKAE,
    "dicomNetworkConnection": _DICOMNETWORKCONNECTION,
    "dcmNetworkConnection": _DCMNETWORKCONNECTION,
    "dicomTransferCapability": _DICOMTRANSFERCAPABILITY,
    "dcmTransferCapability": _DCMTRANSFERCAPABILITY,
    "hl7Application": _HL7APPLICATION,
    "dcmArchiveHL7Application": _DCMARCHIVEHL7APPLICATION,
}
"""Object class -> its attributes, for the classes an entry of a device JSON object can combine."""

AUXILIARY_CLASSES: tuple[str, ...] = (
    "dcmDevice",
    "dcmNetworkAE",
    "dcmNetworkConnection",
    "dcmTransferCapability",
    "dcmArchiveDevice",
    "dcmArchiveNetworkAE",
    "dcmArchiveHL7Application",
)
"""The auxiliary object classes of the dcm4che schema (each a nested object in device JSON)."""
